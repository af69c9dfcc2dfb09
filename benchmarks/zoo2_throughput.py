r"""Model zoo II throughput on this machine: MME2E (SAMSEMO), MESM, seed 004 fusion.

  python benchmarks/zoo2_throughput.py                        # MME2E VAT, SAMSEMO shapes, batch 16
  python benchmarks/zoo2_throughput.py --nopack_items         # every face / piece slot through the CNNs
  python benchmarks/zoo2_throughput.py --model=mesm --batch_size=2
  python benchmarks/zoo2_throughput.py --model=ssl_fusion --batch_size=5 --audio_len=246000

Random-initialised full-size models on random inputs shaped like the builders' output; the number
of valid faces / mel pieces per utterance is drawn uniformly from [--faces_min, --faces_max] and
[--pieces_min, --pieces_max] (SAMSEMO averages 6.0 s per scene = 15 pieces of 0.4 s; faces at
2 fps capped at 16). Prints, per model, with the trainer's own jit + shard_map steps:
- compile time, train samples/s and eval samples/s at the given batch size;
- XLA's FLOP count per train step and the share of the 98 GFLOP/s f32 peak (anchors.md D.2).
  `--buckets=0.625,1.0` times MME2E's optional packing instead (see mme2e.py: slow to train on
  XLA:CPU); XLA counts a `lax.switch` as its costliest branch, so the FLOP share is then taken from
  an extra unpacked run, where the count is exact.
The machine is shared: the 1-minute load average is printed next to the figures.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import app, flags  # noqa: E402

_MODEL = flags.DEFINE_enum("model", "mme2e", ["mme2e", "mesm", "ssl_fusion"], "Model to time.")
_BATCH = flags.DEFINE_integer("batch_size", 16, "Global batch (SAMSEMO 16, MESM 2, seed 004 5).")
_STEPS = flags.DEFINE_integer("steps", 3, "Timed steps after one warm-up step.")
_BUCKETS = flags.DEFINE_list("buckets", ["1.0"], "MME2E packing buckets.")
_FACES = flags.DEFINE_list("faces", ["6", "16"], "Min, max valid faces per utterance.")
_PIECES = flags.DEFINE_list("pieces", ["5", "25"], "Min, max valid mel pieces per utterance.")
_AUDIO_LEN = flags.DEFINE_integer("audio_len", 246_000, "Seed 004 waveform length (samples).")
_SKIP_UNPACKED = flags.DEFINE_bool("skip_unpacked", False, "Skip the exact-FLOP unpacked MME2E run.")
_PACK_ITEMS = flags.DEFINE_bool("pack_items", True, "MME2E: pack real faces / pieces on the host as the "
                                "configs' input.pack_items does (mmer_jax/data/item_packing.py).")
_SAVINGS_ONLY = flags.DEFINE_bool("mesm_savings_only", False,
                                  "MESM: only measure the share of conv compute sparse kernels would skip.")

PEAK = 98e9


def _mme2e_batch(rng, batch, text):
  import numpy as np
  faces = rng.integers(int(_FACES.value[0]), int(_FACES.value[1]) + 1, batch)
  pieces = rng.integers(int(_PIECES.value[0]), int(_PIECES.value[1]) + 1, batch)
  return {"text": text, "label": (rng.uniform(size=(batch, 5)) < 0.3).astype(np.float32),
          "vision": rng.normal(size=(batch, 16, 48, 48, 3)).astype(np.float32),
          "vision_mask": np.arange(16)[None] < faces[:, None],
          "audio": rng.gamma(1.0, 1.0, (batch, 32, 128, 32)).astype(np.float32),
          "audio_mask": np.arange(32)[None] < pieces[:, None]}


def _setup(name: str, rng, batch: int, tmp: Path):
  import numpy as np
  from mmer_jax.models.mesm import MESM
  from mmer_jax.models.mme2e import MME2E
  from mmer_jax.models.ssl_fusion import SslFusion
  if name == "mme2e":
    import jax
    from configs import mme2e_samsemo
    from mmer_jax.data import item_packing
    buckets = tuple(float(b) for b in _BUCKETS.value)
    data = _mme2e_batch(rng, batch, rng.normal(size=(batch, 768)).astype(np.float32))
    if _PACK_ITEMS.value:
      data = item_packing.pack_batch(data, mme2e_samsemo.pack_items("tav"), jax.local_device_count())
    return MME2E(num_classes=5, modalities="tav", compute_buckets=buckets), data, "sigmoid_bce"
  if name == "mesm":
    data = _mme2e_batch(rng, batch, rng.normal(size=(batch, 768)).astype(np.float32))
    data["label"] = (rng.uniform(size=(batch, 6)) < 0.3).astype(np.float32)
    return MESM(num_classes=6, sparse_threshold=0.8), data, "sigmoid_bce"
  from transformers import BertConfig, Wav2Vec2Config
  BertConfig().save_pretrained(tmp / "bert")
  Wav2Vec2Config().save_pretrained(tmp / "w2v")
  lengths = rng.integers(_AUDIO_LEN.value // 4, _AUDIO_LEN.value + 1, batch)
  data = {"text": rng.integers(1000, 30000, (batch, 88)).astype(np.int32), "text_mask": np.ones((batch, 88), bool),
          "audio": rng.normal(size=(batch, _AUDIO_LEN.value)).astype(np.float32),
          "audio_mask": np.arange(_AUDIO_LEN.value)[None] < lengths[:, None],
          "mocap": rng.normal(size=(batch, 200, 189)).astype(np.float32),
          "label": rng.integers(0, 4, batch).astype(np.int32)}
  return SslFusion(text_encoder=str(tmp / "bert"), speech_encoder=str(tmp / "w2v")), data, "softmax_ce"


def _time_model(model, batch, loss_name):
  import jax
  import optax
  from ml_collections import ConfigDict
  from mmer_jax.train import losses, state as state_lib, step as step_lib
  mesh = step_lib.make_mesh()
  tx = optax.adam(1e-4)
  loss_fn = losses.make_loss(ConfigDict(dict(name=loss_name, pos_weight=None, double_softmax=False)))
  inputs = {k: v for k, v in batch.items() if k != "label"}
  t0 = time.perf_counter()
  state = step_lib.replicate(state_lib.create(model, tx, inputs, 0), mesh)
  init_s = time.perf_counter() - t0
  device_batch = step_lib.to_global(batch, mesh)
  t0 = time.perf_counter()
  train = step_lib.make_train_step(model, loss_fn, tx, mesh).lower(state, device_batch).compile()
  compile_s = time.perf_counter() - t0
  print(f"  train step compiled in {compile_s:.0f} s", flush=True)
  cost = train.cost_analysis()
  flops = float((cost[0] if isinstance(cost, (list, tuple)) else cost).get("flops", 0.0))
  state, m = train(state, device_batch)  # warm-up
  jax.block_until_ready(m)
  t0 = time.perf_counter()
  for _ in range(_STEPS.value):
    state, m = train(state, device_batch)
  jax.block_until_ready(m)
  train_dt = (time.perf_counter() - t0) / _STEPS.value
  print(f"  train: {train_dt:.1f} s/step", flush=True)
  evaluate = jax.jit(step_lib.make_eval_step(model, loss_fn, mesh))
  variables = state.variables()
  jax.block_until_ready(evaluate(variables, device_batch))
  t0 = time.perf_counter()
  for _ in range(_STEPS.value):
    out = evaluate(variables, device_batch)
  jax.block_until_ready(out)
  eval_dt = (time.perf_counter() - t0) / _STEPS.value
  return dict(init_s=init_s, compile_s=compile_s, flops=flops, train_dt=train_dt, eval_dt=eval_dt)


def mesm_savings(batch) -> None:
  """Active-location shares of a full-size MESM (random init) and the conv work a sparse kernel skips."""
  import jax
  import numpy as np
  from mmer_jax.models.mesm import MESM, sparse_compute_fraction, stage_conv_flops
  inputs = {k: v for k, v in batch.items() if k != "label"}
  for threshold in (0.7, 0.8, 0.9):
    model = MESM(num_classes=6, sparse_threshold=threshold)
    variables = jax.jit(lambda x: model.init(jax.random.PRNGKey(0), x, train=False))(inputs)
    _, inter = jax.jit(lambda v, x: model.apply(v, x, train=False, mutable=["intermediates"]))(variables, inputs)
    for m, grid, hw, cin in (("v", (24, 24), (48, 48), 3), ("a", (64, 16), (128, 32), 1)):
      share = np.asarray(inter["intermediates"][f"{m}_items"]["active_share"][0])
      r = sparse_compute_fraction(share, stage_conv_flops(grid, in_channels=cin, input_hw=hw))
      print(f"[mesm savings] threshold {threshold} {m}: active share per stage "
            f"{', '.join(f'{a:.3f}' for a in share)} -> skips {100 * r['saved_fraction']:.1f}% of the item CNN's "
            f"conv multiply-adds ({r['dense_madds'] / 1e9:.2f} -> {r['sparse_madds'] / 1e9:.2f} G per item)", flush=True)


def main(argv):
  del argv
  import tempfile
  import numpy as np
  rng = np.random.default_rng(0)
  n = _BATCH.value
  with tempfile.TemporaryDirectory() as tmp:
    model, batch, loss = _setup(_MODEL.value, rng, n, Path(tmp))
    if _MODEL.value == "mesm" and _SAVINGS_ONLY.value:
      return mesm_savings(batch)
    if _MODEL.value == "mme2e":
      print(f"valid faces/utterance {batch['vision_mask'].sum(1).mean():.1f} of 16, "
            f"mel pieces {batch['audio_mask'].sum(1).mean():.1f} of 32; CNN inputs per step: "
            f"{batch['vision'].shape[0]} faces, {batch['audio'].shape[0]} pieces")
    r = _time_model(model, batch, loss)
    print(f"[{_MODEL.value}] batch {n}: compile {r['compile_s']:.0f} s; train {r['train_dt']:.2f} s/step = "
          f"{n / r['train_dt']:.3f} samples/s; eval {r['eval_dt']:.2f} s/step = {n / r['eval_dt']:.3f} samples/s "
          f"(load avg {os.getloadavg()[0]:.1f})")
    if _MODEL.value != "mme2e" or tuple(_BUCKETS.value) == ("1.0",):
      print(f"  XLA train FLOP/step {r['flops'] / 1e12:.3f} T -> {r['flops'] / r['train_dt'] / 1e9:.1f} GFLOP/s = "
            f"{100 * r['flops'] / r['train_dt'] / PEAK:.1f}% of peak")
    elif not _SKIP_UNPACKED.value:
      full = _time_model(model.clone(compute_buckets=(1.0,)), batch, loss)
      print(f"  unpacked (every slot encoded): train {full['train_dt']:.2f} s/step = {n / full['train_dt']:.3f} "
            f"samples/s, eval {n / full['eval_dt']:.3f} samples/s; XLA train FLOP/step {full['flops'] / 1e12:.3f} T "
            f"-> {full['flops'] / full['train_dt'] / 1e9:.1f} GFLOP/s = {100 * full['flops'] / full['train_dt'] / PEAK:.1f}% "
            f"of peak (load avg {os.getloadavg()[0]:.1f})")
      print(f"  packed step, dense-equivalent: {full['flops'] / r['train_dt'] / 1e9:.1f} GFLOP/s; "
            f"speed-up from packing {full['train_dt'] / r['train_dt']:.2f}x")


if __name__ == "__main__":
  from mmer_jax.process_env import reexec_with_malloc_tunables
  reexec_with_malloc_tunables()
  app.run(main)
