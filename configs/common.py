"""Shared config pieces: the default sections and the `get_config(arg)` argument parser."""

from __future__ import annotations

import ml_collections

from mmer_jax.train.defaults import DEFAULT_EVALS, MAX_BUCKETS, base_config  # noqa: F401  (configs build on them)


def check_choices(args: ml_collections.ConfigDict, **known) -> None:
  """Refuses an argument outside its known values, in the configs' words: `split='x'; use one of a, b.`"""
  for key, values in known.items():
    if args[key] not in values:
      raise ValueError(f"{key}={args[key]!r}; use one of {', '.join(values)}.")


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
  the checkpoint's usual fine-tuning rate, `optim.finetune_learning_rate`, resolved at start)."""
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


def native_or_manifest(args: ml_collections.ConfigDict, native: str) -> str | None:
  """`dataset=<native>` or `dataset=manifest[:<name>]`: the manifest's name (see manifest_name), None
  for the config's own dataset; any other dataset is refused."""
  manifest = manifest_name(args)
  if args.dataset not in (native, MANIFEST):
    raise ValueError(f"dataset={args.dataset!r}; use {native} or manifest:<name>.")
  return manifest


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
  for name in [n for n in c.evals if n not in DEFAULT_EVALS]:  # a dataset's own protocols
    del c.evals[name]
