"""Shared config pieces: the default sections and the `get_config(arg)` argument parser."""

from __future__ import annotations

import ml_collections

from mmer_jax.train import host_watch


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """Parses 'smoke,variant=a,steps=10' into typed fields, like big_vision's configs."""
  parsed = ml_collections.ConfigDict(defaults)
  for token in filter(None, (arg or "").split(",")):
    key, eq, value = token.partition("=")
    if key not in defaults:
      raise ValueError(f"Unknown config argument {key!r}; known: {', '.join(sorted(defaults))}.")
    if not eq:
      parsed[key] = True
    else:
      parsed[key] = type(defaults[key])(value) if not isinstance(defaults[key], bool) else value.lower() in (
          "1", "true", "yes")
  return parsed


MAX_BUCKETS = 6  # training compiles per run, at most (see base_config's input.buckets)


def base_config() -> ml_collections.ConfigDict:
  """Every section the trainer reads, with defaults; experiment configs fill in the rest."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.num_epochs = 10
  # Multi-host (README "Multi-host runs"): jax.distributed discovers TPU pods and SLURM by itself;
  # elsewhere give the coordinator, the number of processes and this process's index.
  c.distributed = False
  c.coordinator_address = ml_collections.config_dict.placeholder(str)
  c.num_processes = ml_collections.config_dict.placeholder(int)
  c.process_id = ml_collections.config_dict.placeholder(int)
  # A host silent this long is lost: the others stop, name it and the last complete checkpoint in one
  # line, and exit 69 (README "Multi-host runs"; mmer_jax/train/host_watch.py).
  c.distributed_timeout_s = host_watch.DEFAULT_TIMEOUT_S
  # XLA's persistent compilation cache, off by default: with a folder (e.g. ~/.cache/mmer_jax/xla) a
  # later run with the same shapes loads its compiled steps instead of compiling them (MELD text
  # classifier, 6 buckets: 44 s -> 13 s), but each loaded executable holds more memory than a freshly
  # compiled one (that run's peak 1.88 -> 2.16 GB). MMER_JAX_COMPILATION_CACHE=<folder> sets it too.
  c.compilation_cache_dir = ml_collections.config_dict.placeholder(str)
  c.stop_after_steps = ml_collections.config_dict.placeholder(int)
  # A training batch holding more positions of its bucketed input per device (rows x padded length)
  # runs as equal micro-batches with summed gradients: the same update, with the activations of one
  # micro-batch alive instead of the whole batch's (mmer_jax/train/step.py). None: whole batches.
  c.max_tokens_per_pass = ml_collections.config_dict.placeholder(int)
  c.model_name = ""
  c.model = ml_collections.ConfigDict()
  # "bfloat16": matmuls, convolutions and activations in bfloat16 (for GPU/TPU); parameters, optimiser
  # state, BatchNorm statistics, losses and metrics stay float32 (mmer_jax/models/precision.py).
  c.compute_dtype = "float32"
  c.input = ml_collections.ConfigDict(dict(
      tfds_name="", data_dir="~/tensorflow_datasets", splits=dict(train="train", valid="validation", test="test"),
      preprocessor="", preprocess=ml_collections.ConfigDict(), batch_size=32, eval_batch_size=64,
      num_threads=2, prefetch=4, cache=False, extra_train_sources=[],
      # Length buckets (mmer_jax/data/pipeline.py): None = chosen from the training split's lengths
      # of the preprocessor's variable-length input (token ids, waveform, LLD frames), at most
      # `max_buckets` training shapes (compiles) minimising the padded steps; 0 = no buckets (the
      # preprocessor's fixed maximum). On the real transcript lengths (shared spec §7) a training
      # epoch's batches with 6 buckets hold ~1.4x the real tokens, 4 ~1.6x, 2 ~2.3x, against 6.8x at
      # 128 tokens (tests/test_length_buckets.py). A config may name them: {input key: [lengths]}.
      buckets=None, max_buckets=MAX_BUCKETS,
      # Batches of similar lengths ("auto": by the bucketed input, only when there are buckets);
      # None turns it off. Each window of `window_batches` batches is sorted, the batches shuffled.
      group_by_length=ml_collections.ConfigDict(dict(key="auto", window_batches=50))))
  c.task = ml_collections.ConfigDict(dict(type="single_label", class_names=[]))
  c.loss = ml_collections.ConfigDict(dict(name="softmax_ce", pos_weight=None, double_softmax=False))
  c.optimizer = ml_collections.ConfigDict(dict(
      name="adam", learning_rate=1e-3, weight_decay=0.0, clip_norm=None, schedule="constant", param_group_lr={}))
  c.evaluation = ml_collections.ConfigDict(dict(
      selection_metric="loss", mode="min", early_stopping_patience=None, slice_by=[]))
  # restart=True discards a run in the workdir that cannot be resumed, instead of refusing to start.
  c.checkpoint = ml_collections.ConfigDict(dict(keep_best=1, every_steps=0, also_best=[], restart=False))
  # Epoch-end actions beyond validate / select best / early stop: {name: dict(type=...)}
  # (mmer_jax/train/epoch_actions.py).
  c.evals = ml_collections.ConfigDict()
  c.init_from = []
  return c


# ---- text encoders ---------------------------------------------------------------------------------
TEXT_MODES = ("frozen", "finetune")
# AdamW practice for BERT-family encoders: no decay on biases and normalisation scales (LayerNorm,
# and the BatchNorm / transformer norms of the other branches alike).
NO_DECAY = r"(bias|scale)$"


def text_section(mode: str, *, encoder_lr_factor: float, checkpoint: str = "",
                 max_length: int | None = None) -> ml_collections.ConfigDict:
  """`config.text`, the one place a run names its local text checkpoint.

  The model's encoder, the tokenizer and the encoder's learning-rate group refer to these fields
  (FieldReferences), so `--config.text.checkpoint=<folder>` or `--config.text.encoder_lr_factor=0.5`
  on the command line reaches all of them. `max_length` None: derived from the checkpoint.
  `pooling` None: the in-model encoder pools as its checkpoint was trained (mean for
  sentence-transformers folders, CLS for BERT/ALBERT; mmer_jax/features/pooling.py); cls | mean
  override it.
  """
  if mode not in TEXT_MODES:
    raise ValueError(f"text={mode!r}; use one of {', '.join(TEXT_MODES)}.")
  return ml_collections.ConfigDict(dict(
      checkpoint=ml_collections.FieldReference(checkpoint or None, field_type=str),
      encoder_lr_factor=ml_collections.FieldReference(
          None if encoder_lr_factor is None else float(encoder_lr_factor), field_type=float),
      max_length=ml_collections.FieldReference(max_length, field_type=int),
      pooling=ml_collections.FieldReference(None, field_type=str)))


def text_max_buckets(mods: str) -> int:
  """`input.max_buckets` for token ids of a fine-tuned encoder: MAX_BUCKETS when text is the only
  input; 2 beside face / mel-piece CNNs or wav2vec2, whose steps recompile in full for every text
  shape (packed items already compile several) while the text's padding is a small share of them."""
  return MAX_BUCKETS if set(mods) <= {"t"} else 2


# Fine-tuning a pretrained text encoder (issue 26): a few epochs, not the frozen-feature papers' tens.
# Tuned on MELD (all-MiniLM-L6-v2, manifest/meld_text): validation weighted F1 rose 54.2 -> 56.8 -> 57.0
# -> 57.3 over 4 epochs with 10% warm-up, so the decay to 0 ends there; early stopping after 2 epochs
# without a better validation score. Warm-up and decay count steps, whatever the epoch length.
FINETUNE_EPOCHS = 4
FINETUNE_WARMUP_FRACTION = 0.1
FINETUNE_PATIENCE = 2
# Positions per micro-batch when a text-only model fine-tunes (config.max_tokens_per_pass): a batch of
# 32 at the 32-token bucket (p95 of real transcripts, shared spec section 7) runs whole; the rare longer
# buckets split, so that the longest transcript no longer sets the peak memory (all-MiniLM-L6-v2 at
# 32 x 96 tokens: 1.33 GB of step temporaries against 0.40 GB at 32 x 32).
FINETUNE_MAX_TOKENS = 1024


def finetune_optimizer(c: ml_collections.ConfigDict, group: str, learning_rate: float) -> None:
  """The usual recipe for fine-tuning a BERT-family encoder inside a larger model: AdamW (decay 0.01
  except biases and norm scales), clipping at 1, 10% linear warm-up then linear decay to 0; the
  encoder's parameters (`group` regex) at `config.text.encoder_lr_factor` x the others' rate (None:
  the checkpoint's usual fine-tuning rate, `pretrained.finetune_learning_rate`, resolved at start)."""
  c.optimizer.name = "adamw"
  c.optimizer.learning_rate = learning_rate
  c.optimizer.weight_decay = 0.01
  c.optimizer.weight_decay_exclude = NO_DECAY
  c.optimizer.clip_norm = 1.0
  c.optimizer.schedule = "warmup_linear"
  c.optimizer.warmup_fraction = FINETUNE_WARMUP_FRACTION
  c.optimizer.param_group_lr = {group: c.text.get_ref("encoder_lr_factor")}


def finetune_schedule(c: ml_collections.ConfigDict) -> None:
  """A fine-tune's length: FINETUNE_EPOCHS with early stopping on the validation selection metric."""
  c.num_epochs = FINETUNE_EPOCHS
  c.evaluation.early_stopping_patience = FINETUNE_PATIENCE


# ---- your own data: a built manifest (tfds_builders/manifest) --------------------------------------
MANIFEST = "manifest"
MANIFEST_META = ["id", "dialog", "speaker"]


def manifest_name(args: ml_collections.ConfigDict, field: str = "dataset") -> str | None:
  """`dataset=manifest:<name>` (or `dataset=manifest`, the name then given by
  `--config.input.tfds_name=manifest/<name>`): leaves `manifest` in args.<field> and returns the
  name ('' when not given); None for any other dataset."""
  family, _, name = str(args[field]).partition(":")
  if family != MANIFEST:
    return None
  args[field] = MANIFEST
  return name


def manifest_input(c: ml_collections.ConfigDict, name: str, labels: str = "") -> None:
  """Points a config at `manifest/<name>` with train / validation / test splits. The label column
  (`labels`: its key or the user's column name; '' = the build's first) and everything that follows
  from it (task type, class names, number of outputs, loss, selection metric) are read from the
  build's metadata when the run starts (mmer_jax/data/manifest_task.py); until then they are unset."""
  c.input.tfds_name = f"{MANIFEST}/{name}"
  c.input.splits = dict(train="train", valid="validation", test="test")
  # roles: the build's column roles, saved with the run so `--mode=predict` reads the same layout.
  c.input.manifest = ml_collections.ConfigDict(dict(label=labels, kind="", roles={}))
  if "meta_keys" in c.input.preprocess:
    c.input.preprocess.meta_keys = list(MANIFEST_META)
  c.model.num_classes = ml_collections.config_dict.placeholder(int)
  c.task.type = "single_label"
  c.task.class_names = []
  c.task.threshold_step = 0.01  # multi-label: per-class thresholds tuned on validation
  c.task.neutral_class = False  # regression: the value alone, no "no emotion" column
  c.evaluation.slice_by = []    # any stored column works: --config.evaluation.slice_by=meta/speaker ...
  c.evals = ml_collections.ConfigDict()
