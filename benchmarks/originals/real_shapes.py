"""Real-shape mode of vs_originals.py: per-sample lengths drawn from real data, each side padding
them its own way.

A plan is one round's samples: K train batches and (about) K eval batches of the original's batch
size, each sample a dict of lengths ({"text": 17, "audio": 312, "vision": 95} for LF-RNN). For
configs that group or sort by length, the plan also holds mmer_jax's batches, taken from a window /
split-sized pool batched as the pipeline batches it (`_stratified`: sorting only a round's few
samples would make mmer_jax's batches far wider than in a real epoch). The driver draws it
(`draw_plan`, which reads `mmer_jax.data.real_lengths`: §7 of the shared dataset spec) and writes it
to one JSON file; both workers read that file, so both sides get the same samples by construction.
Everything else the original side calls is plain Python + numpy, importable in the torch venv; mmer_jax's
batches come from the pipeline's own functions, imported where they are made (the project venv).

Lengths: a clip's duration from the dataset's `ClipDurations` and its transcript length from the
matching token distribution, coupled through one uniform draw per sample (a longer clip has the
longer transcript; both marginals stay exactly the measured ones); durations become frames at the
feature's rate. Every length is at least 1 and at most `cap`, the longest mmer_jax's config keeps,
on BOTH sides: a sample longer than that is cut to it for the original too, so both compute the
same real steps (the originals' own code keeps such samples whole, see each `Input.note`).

Batching:
- original: batches in plan order (its loaders shuffle: the plan's order is random), each input
  padded by the original's own rule (`FIXED` to the cap, `BATCH_MAX` to the batch's longest,
  `PACKED` as one concatenation of the real rows plus a list of lengths), with the line of the
  original's code that shows it;
- mmer_jax: as `launch.py` runs the model's config: training batches length-grouped as
  `InputPipeline._length_grouped_order` groups them (seeded shuffle, windows of `window_batches`
  batches sorted by the grouping key, then the batch order shuffled; K of a window's batches,
  spread evenly over its lengths), evaluation at the config's `eval_batch_size` in length order
  (batches of a sorted split-sized pool, spread evenly; without buckets, the split's order with the
  last batch topped up with copies of its first sample), every bucketed input padded to the
  smallest bucket holding the batch's longest (`pipeline.bucket_length`), inputs without buckets to
  the preprocessor's fixed maximum.
Both sides process the same samples per round; a round's rate is samples / the round's total time
(`harness.total_rate`), since steps differ in size.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

FIXED, BATCH_MAX, PACKED = "fixed", "batch_max", "packed"
RULES = (FIXED, BATCH_MAX, PACKED)
PLAN_VERSION = 2

# Feature rates (per second of audio / video).
COVAREP_HZ = 100.0  # tfds_builders/cmu_mosei/csd_examples.py:6 (COVAREP ~100 Hz, FACET ~30 Hz)
FACET_HZ = 30.0
COMPARE_LLD_HZ = 100.0  # configs/multifocus_common.py:51: max_audio_frames = 1000 is 10 s (10 ms hop)
# Upstream MME2E: one frame every img_interval = 500 ms of 30 fps video (mme2e_upstream src/cli.py:34,
# src/datasets.py:255-256: range(0, frames, 15)) -> ceil(2 x seconds) faces; torchaudio's MelSpectrogram
# hop is win_length // 2 = 200 samples at 16 kHz (src/datasets.py:317) -> 80 frames/s, 1 + floor(80 s)
# frames cut into 32-frame pieces, the last one padded (src/datasets.py:275-285).
FACES_PER_SECOND = 2.0
MEL_FRAMES_PER_SECOND = 80.0
MEL_PIECE_FRAMES = 32
BUCKET_SPLIT = 5000  # training-split lengths drawn to choose mmer_jax's buckets (a split's worth, as the pipeline)


@dataclasses.dataclass
class RealRunner:
  """What either side's `build_real` returns: one callable per step of the plan, in the order that
  side batches it; `warmup_steps` runs before the rounds (every shape mmer_jax compiles; one train
  and one eval step for the originals); `samples` per phase, which the driver checks agree."""
  train_steps: list
  eval_steps: list
  warmup_steps: list
  samples: dict
  info: dict


@dataclasses.dataclass(frozen=True)
class Input:
  """One variable-length input: how many rows per sample (`per` of the sample's draws), the cap both
  sides keep, and how the original pads it (`rule`, shown by `cite` in its checkout)."""
  name: str
  per: str            # "seconds" (times `rate`), "tokens", "words", "faces" or "pieces"
  cap: int
  rule: str
  cite: str
  rate: float = 1.0
  note: str = ""
  computes: Optional[str] = None  # the rule the model then computes at, where it re-pads a packed input


@dataclasses.dataclass(frozen=True)
class RealSpec:
  durations: str      # a real_lengths.DISTRIBUTIONS ClipDurations name
  tokens: Optional[str]  # the LengthDistribution coupled to the duration, or None (words from seconds)
  inputs: tuple[Input, ...]
  # mmer_jax's config, as launch.py runs it (read from configs/ by the tests):
  eval_batch: int
  buckets: dict       # {input: [lengths]}; an input without buckets is padded to its cap
  group_key: Optional[str]  # input.group_by_length key (None: no grouping)
  window_batches: int = 50
  note: str = ""
  # {input: (max_buckets, multiple)}: buckets length_buckets.choose picks from a training split's lengths
  # (the driver draws BUCKET_SPLIT of them and stores the choice in the plan); the cap is the input's.
  auto_buckets: dict = dataclasses.field(default_factory=dict)
  pack: tuple = ()    # inputs mmer_jax packs (input.pack_items): slots padded to the cap, then packed


_MOSEI_HCF = "mme2e_upstream: src/datasets.py"
_LF_INPUTS = (
    Input("text", "words", 50, FIXED, f"{_MOSEI_HCF}:144 (torch.stack(texts): the HCF pickle's fixed length)",
          note="one GloVe row per word; the pickle's length is not in the code: padded to mmer_jax's 50 on both sides"),
    Input("audio", "seconds", 500, PACKED, f"{_MOSEI_HCF}:133,136 (lengths list + torch.cat); "
          "the model pads to the batch's longest: src/models/baselines/lf_rnn.py:76-78, "
          "src/models/transformer_encoder.py:24-30", rate=COVAREP_HZ, computes=BATCH_MAX,
          note="COVAREP at 100 Hz; cut to mmer_jax's 500 frames on both sides (the original keeps every frame)"),
    Input("vision", "seconds", 150, PACKED, f"{_MOSEI_HCF}:132,135 (lengths list + torch.cat); "
          "padded to the batch's longest: src/models/baselines/lf_rnn.py:86-88", rate=FACET_HZ, computes=BATCH_MAX,
          note="FACET at 30 Hz; cut to mmer_jax's 150 frames on both sides"),
)
_LF = RealSpec("cmu_mosei_segment_seconds", None, _LF_INPUTS, eval_batch=64, buckets={}, group_key=None,
               note="configs/lf_mme2e.py: no buckets, every input padded to max_lengths 50/500/150 "
                    "(mmer_jax/data/preprocess/late_fusion.py:107); eval_batch_size 64")

_CS772_AUDIO = Input("audio", "seconds", 1000, BATCH_MAX,
                     "cs772: MMClassifiers.ipynb cell 40 lines 5-6 (pad_sequence per batch), "
                     "cell 46 lines 17-20 (MM-B) and cell 58 lines 61-64 (MM-MLA) (pack_padded_sequence: the LSTMs skip the padding); "
                     "UnimodalClassifiers.ipynb cell 18 line 11",
                     rate=COMPARE_LLD_HZ,
                     note="ComParE_2016 LLDs at 100 Hz; cut to mmer_jax's 1000 frames on both sides")
_CS772_TEXT = Input("text", "tokens", 128, BATCH_MAX,
                    "cs772: MMClassifiers.ipynb cell 40 line 6 (pad_sequence per batch; truncation only at "
                    "max_len=512, cell 38 lines 37-40); UnimodalClassifiers.ipynb cell 51 line 11",
                    note="bert-base-uncased word pieces (IEMOCAP, §7), at most 126: the 128 cap never cuts")
_MF_BUCKETS = {"audio": [128, 256, 384, 512, 640, 768, 896, 1000], "text": [32, 64, 128]}  # multifocus_common.py


def _cs772(inputs: tuple[Input, ...]) -> RealSpec:
  names = [i.name for i in inputs]
  if names == ["text"]:  # (6, 8): mmer_jax.train.defaults MAX_BUCKETS, length_buckets.DEFAULT_MULTIPLE
    return RealSpec("iemocap_utterance_seconds", "iemocap_tokens", inputs, eval_batch=64, buckets={},
                    group_key="text", auto_buckets={"text": (6, 8)},
                    note="configs/multifocus_common.py: text alone, buckets chosen from the training "
                         "transcripts (max_buckets 6), batches grouped by text, eval_batch_size 64")
  return RealSpec("iemocap_utterance_seconds", "iemocap_tokens", inputs, eval_batch=64,
                  buckets={n: _MF_BUCKETS[n] for n in names}, group_key=names[0],
                  note="configs/multifocus_common.py: named buckets (audio every 128 frames, text 32/64/128), "
                       "batches grouped by the first modality, eval_batch_size 64")


_UPSTREAM = "mme2e_upstream: src/datasets.py"
_MME2E = RealSpec(
    "iemocap_utterance_seconds", "iemocap_tokens",
    (Input("text", "tokens", 100, FIXED, "mme2e_upstream: src/trainers/emotiontrainer.py:154 (padding='max_length' "
           "at --text-max-len, 100 in README.md:81)",
           note="IEMOCAP word pieces of bert-base-uncased (§7) stand in for ALBERT's SentencePiece counts"),
     Input("vision", "faces", 16, PACKED, f"{_UPSTREAM}:341-342 (faces concatenated + imgSeqLens list)",
           note="a frame every 500 ms; MTCNN is left out on both sides (spec note); cut to mmer_jax's "
                "max_faces 16 on both sides (the original keeps every frame)"),
     Input("audio", "pieces", 32, PACKED, f"{_UPSTREAM}:344-345,353 (mel pieces concatenated + specgramSeqLens list)",
           note="0.4 s mel pieces; cut to mmer_jax's max_pieces 32 on both sides")),
    eval_batch=8, buckets={}, group_key="text", auto_buckets={"text": (2, 8)}, pack=("vision", "audio"),
    note="configs/mme2e_upstream.py: text buckets chosen from the training split (max_buckets 2, "
         "configs/common.py text_max_buckets), batches grouped by text, faces and mel pieces packed "
         "(input.pack_items), eval_batch_size 8")

_SAMSEMO_SRC = "samsemo: src/model_E2E.py"
_SAMSEMO = RealSpec(
    "samsemo_en_scene_seconds", None,
    (Input("vision", "faces", 16, PACKED, f"{_SAMSEMO_SRC}:74-85 (faces[mask]: the CNN encodes each scene's real "
           "faces only; the transformer pads them to the batch's longest, src/transformer_encoder.py:31-38)",
           note="a frame every 500 ms (2 fps; inferred, dataset_formats.md §3.2), all used; at most 16 "
                "per scene on both sides (model_E2E.py:74)"),
     Input("audio", "pieces", 32, PACKED, f"{_SAMSEMO_SRC}:94-105 (specs[mask]: real mel pieces only; "
           "32 slots per scene, preprocessing/prep_aud.py:47-52)",
           note="0.4 s mel pieces (torchaudio's hop of 200 samples at 16 kHz, 32-frame pieces)")),
    eval_batch=16, buckets={}, group_key=None, pack=("vision", "audio"),
    note="configs/mme2e_samsemo.py: text is the precomputed CLS vector (no length), faces and mel pieces "
         "packed (input.pack_items, fractions 0.5-1.0 of the slots), no length grouping, eval_batch_size 16")

REAL = {
    "samsemo_mme2e": _SAMSEMO,
    "mme2e_upstream": _MME2E,
    "lf_rnn": _LF,
    "lf_transformer": _LF,
    "mmmla": _cs772((_CS772_AUDIO, _CS772_TEXT)),
    "mmb": _cs772((_CS772_AUDIO, _CS772_TEXT)),
    "unimodal_audio": _cs772((_CS772_AUDIO,)),
    "unimodal_text": _cs772((_CS772_TEXT,)),
}
# Inputs of a fixed size in the original and in mmer_jax alike: full-length only.
FIXED_SHAPES = {"resnet1d": "2,740 utterance statistics", "semor_mocap_cnn": "200 MoCap frames",
                "williams": "45 word-aligned steps: the seed pads or cuts every sequence to fixed_num_steps "
                            "(williams: dataset_utils.py:284-290) for a Keras input_shape of that length "
                            "(model_training.py:28)"}


# --- the plan ---------------------------------------------------------------------------------

def _normal_cdf(z: np.ndarray) -> np.ndarray:
  return 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))


def draw_lengths(real: RealSpec, n: int, rng: np.random.Generator) -> list[dict]:
  """`n` samples' lengths. Needs mmer_jax (the driver's venv)."""
  from mmer_jax.data import real_lengths  # noqa: PLC0415 - the torch venv never draws
  clips = real_lengths.DISTRIBUTIONS[real.durations]
  z = rng.standard_normal(n)
  seconds = np.clip(clips.median * np.exp(clips.sigma * z), clips.minimum, clips.maximum)
  mel_frames = 1 + np.floor(seconds * MEL_FRAMES_PER_SECOND)
  per = {"seconds": seconds, "words": np.maximum(np.rint(seconds * real_lengths.WORDS_PER_SECOND), 1),
         "faces": np.ceil(seconds * FACES_PER_SECOND), "pieces": np.ceil(mel_frames / MEL_PIECE_FRAMES)}
  if real.tokens:  # the same uniform: the longer clip has the longer transcript
    tokens = real_lengths.DISTRIBUTIONS[real.tokens]
    per["tokens"] = np.clip(np.rint(tokens.quantile(_normal_cdf(z))), tokens.knots[0][1], tokens.knots[-1][1])
  out = []
  for i in range(n):
    sample = {"seconds": round(float(seconds[i]), 3)}
    for inp in real.inputs:
      value = per[inp.per][i] * (inp.rate if inp.per == "seconds" else 1.0)
      sample[inp.name] = int(min(max(round(float(value)), 1), inp.cap))
    out.append(sample)
  return out


def _spaced(n_batches: int, pick: int) -> np.ndarray:
  """`pick` batch positions, the centres of `pick` equal strata of `n_batches` sorted batches (one
  pick: the median batch, not an extreme), at least one."""
  pick = min(max(pick, 1), n_batches)
  return ((np.arange(pick) + 0.5) * n_batches / pick).astype(np.int64)


def _stratified(real: RealSpec, phase: str, batch: int, steps: int, rng: np.random.Generator,
                seed: int) -> tuple[list[dict], list[list[int]]]:
  """(samples in the original's order, mmer_jax's batches as positions in that list) for a config that
  groups or sorts by length. mmer_jax sorts a whole window (training: `window_batches` batches) or a
  whole split (evaluation) before batching, so its batches hold close lengths; one round's handful of
  samples sorted alone would give it far wider batches than a real epoch does. So a pool of that size
  is drawn and batched as the pipeline batches it, and `steps` (eval: enough for the original's
  `steps` batches) of its batches are taken, spread evenly over the pool's lengths; the original gets
  the same samples in a random order (its loaders shuffle, or keep a split order unrelated to length)."""
  key = real.group_key or real.inputs[0].name
  if phase == "train":
    pool = draw_lengths(real, real.window_batches * batch, rng)
    rows = grouped_order([s[key] for s in pool], batch, real.window_batches, seed)
    by_length = np.argsort([np.mean([pool[i][key] for i in r]) for r in rows], kind="stable")
    chosen = rows[np.sort(by_length[_spaced(len(rows), steps)])]  # keep the pipeline's shuffled batch order
  else:
    pool = draw_lengths(real, real.window_batches * real.eval_batch, rng)
    rows, _ = eval_order([s[key] for s in pool], real.eval_batch)
    chosen = rows[_spaced(len(rows), math.ceil(steps * batch / real.eval_batch))]
  picked = [pool[i] for i in chosen.reshape(-1)]
  order = rng.permutation(len(picked))  # the original's order
  position = np.empty(len(order), np.int64)
  position[order] = np.arange(len(order))
  width = chosen.shape[1]
  return [picked[i] for i in order], [[int(position[j]) for j in range(b * width, (b + 1) * width)]
                                      for b in range(len(chosen))]


def draw_plan(key: str, batch: int, steps: int, seed: int) -> dict:
  """One round's samples for model `key`: `steps` train and (about) `steps` eval batches of `batch`.
  For configs that group or sort by length, also mmer_jax's batches (`_stratified`)."""
  real = REAL[key]
  rng = np.random.default_rng([seed, PLAN_VERSION])
  plan = {"version": PLAN_VERSION, "model": key, "seed": seed, "batch": batch, "steps": steps,
          "inputs": [i.name for i in real.inputs]}
  if real.group_key:
    plan["mmer_jax"] = {}
    for phase in ("train", "eval"):
      plan[phase], plan["mmer_jax"][phase] = _stratified(real, phase, batch, steps, rng, seed)
  else:
    plan["train"], plan["eval"] = draw_lengths(real, steps * batch, rng), draw_lengths(real, steps * batch, rng)
  if real.auto_buckets:  # as InputPipeline._resolve_buckets: length_buckets.choose over the training split
    from mmer_jax.data import length_buckets  # noqa: PLC0415
    split = draw_lengths(real, BUCKET_SPLIT, np.random.default_rng([seed, PLAN_VERSION, 1]))
    caps = {i.name: i.cap for i in real.inputs}
    plan["buckets"] = {
        name: length_buckets.choose([s[name] for s in split], length_buckets.LengthGroup(caps[name], multiple),
                                    max_buckets)
        for name, (max_buckets, multiple) in real.auto_buckets.items()}
  return plan


def buckets_of(key: str, plan: dict) -> dict:
  """mmer_jax's buckets for the plan: the config's named ones, or those chosen when the plan was drawn."""
  return dict(REAL[key].buckets, **plan.get("buckets", {}))


def write_plan(plan: dict, path: Path) -> Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(plan, indent=0))
  return path


def read_plan(path: Path, key: str) -> dict:
  plan = json.loads(Path(path).read_text())
  if plan.get("version") != PLAN_VERSION or plan.get("model") != key:
    raise ValueError(f"{path} holds a plan for {plan.get('model')!r} (version {plan.get('version')}), not {key!r}")
  return plan


# --- the original's batches -------------------------------------------------------------------

def padded_length(rule: str, lengths: Sequence[int], cap: int) -> int:
  """The rows per sample a batch is padded to under `rule`; for PACKED, the rows the concatenation
  holds over the batch's size (sum / batch), as a fractional length."""
  if rule == FIXED:
    return int(cap)
  if rule == BATCH_MAX:
    return int(max(lengths))
  if rule == PACKED:
    return sum(int(x) for x in lengths) / len(lengths)
  raise ValueError(f"unknown padding rule {rule!r}; use one of {RULES}")


def original_batches(plan: dict, phase: str) -> list[list[dict]]:
  """The plan's samples in plan order, in consecutive batches of the plan's batch size."""
  samples, b = plan[phase], plan["batch"]
  return [samples[i:i + b] for i in range(0, len(samples), b)]


def original_shapes(key: str, batch: Sequence[dict]) -> dict:
  """{input: padded rows per sample (FIXED / BATCH_MAX) or the lengths list (PACKED)}."""
  out = {}
  for inp in REAL[key].inputs:
    lengths = [s[inp.name] for s in batch]
    out[inp.name] = lengths if inp.rule == PACKED else padded_length(inp.rule, lengths, inp.cap)
  return out


# --- mmer_jax's batches -----------------------------------------------------------------------

def bucket_length(length: int, buckets: Sequence[int]) -> int:
  """The smallest bucket holding `length` (the largest caps longer ones): the pipeline's own rule."""
  from mmer_jax.data import pipeline  # noqa: PLC0415 - mmer_jax's batches are made in its venv only
  return pipeline.bucket_length(length, buckets)


def grouped_order(lengths: Sequence[int], batch: int, window_batches: int, seed: int) -> np.ndarray:
  """(steps, batch) sample indices as InputPipeline._length_grouped_order orders one host's epoch
  (`pipeline.length_grouped_batches`, seeded as the pipeline seeds epoch 0 with `seed`)."""
  from mmer_jax.data import pipeline  # noqa: PLC0415
  return pipeline.length_grouped_batches(np.asarray(lengths), batch, len(lengths) // batch, window_batches,
                                         np.random.default_rng(seed))


def eval_order(lengths: Optional[Sequence[int]], eval_batch: int, n: Optional[int] = None
               ) -> tuple[np.ndarray, np.ndarray]:
  """(indices, valid), both (batches, eval_batch), as InputPipeline._eval_plan / eval_batches:
  sorted by length (the split's order without `lengths`, then give `n`); the last batch topped up
  with its first (shortest) sample, flagged invalid."""
  from mmer_jax.data import pipeline  # noqa: PLC0415
  n = len(lengths) if lengths is not None else int(n)
  plan = pipeline.eval_plan(n, eval_batch, max(1, math.ceil(n / eval_batch)), lengths)
  valid = plan >= 0
  return np.where(valid, plan, plan[:, :1]), valid


def mmer_jax_batches(key: str, plan: dict, phase: str, seed: int = 0) -> list[dict]:
  """[{"indices": [...], "valid": [...], "shapes": {input: padded length}}] in step order: the plan's
  own mmer_jax batches where it has them, else a seeded shuffle (train) or the split's order (eval)
  in consecutive batches, the last eval batch topped up as the pipeline does."""
  real = REAL[key]
  buckets = buckets_of(key, plan)
  samples = plan[phase]
  if "mmer_jax" in plan:  # drawn as the pipeline batches a window / a split (_stratified)
    rows = np.asarray(plan["mmer_jax"][phase], np.int64)
    valid = np.ones(rows.shape, bool)
  elif phase == "train":
    if real.group_key:
      rows = grouped_order([s[real.group_key] for s in samples], plan["batch"], real.window_batches, seed)
    else:  # a seeded shuffle (grain's), then consecutive batches
      rows = np.random.default_rng(seed).permutation(len(samples)).reshape(-1, plan["batch"])
    valid = np.ones(rows.shape, bool)
  else:
    key_input = real.group_key or real.inputs[0].name
    # Without buckets no length order: pipeline._eval_plan keeps the split's order.
    lengths = [s[key_input] for s in samples] if buckets else None
    rows, valid = eval_order(lengths, real.eval_batch, len(samples))
  out = []
  for r, v in zip(rows, valid):
    shapes = {}
    for inp in real.inputs:
      longest = max(samples[i][inp.name] for i in r)
      shapes[inp.name] = bucket_length(longest, buckets[inp.name]) if inp.name in buckets else inp.cap
    out.append({"indices": [int(i) for i in r], "valid": [bool(x) for x in v], "shapes": shapes})
  return out


def padding_share(key: str, plan: dict, phase: str, side: str) -> float:
  """Real rows / computed rows over the plan's inputs (1.0 = no padding), for the table's note."""
  real_rows = done = 0
  inputs = REAL[key].inputs
  if side == "original":
    for batch in original_batches(plan, phase):
      for inp in inputs:
        lengths = [s[inp.name] for s in batch]
        rule = inp.computes or inp.rule
        real_rows += sum(lengths)
        done += sum(lengths) if rule == PACKED else padded_length(rule, lengths, inp.cap) * len(lengths)
  else:
    for b in mmer_jax_batches(key, plan, phase):
      for inp in inputs:
        rows = sum(plan[phase][i][inp.name] for i, ok in zip(b["indices"], b["valid"]) if ok)
        real_rows += rows
        done += rows if inp.name in REAL[key].pack else b["shapes"][inp.name] * len(b["indices"])  # packed: ~real
  return real_rows / max(done, 1)
