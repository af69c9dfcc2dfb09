r"""Seed 004 (Patamia et al.; Ruddy202/multimodal-SEmoR): BERT + wav2vec2 + MoCap fusion on IEMOCAP.

  python -m tfds_builders.build iemocap/seed004 --manual_dir=<IEMOCAP_full_release> --data_dir=~/tensorflow_datasets
  python launch.py --config=configs/ssl_fusion_iemocap.py:mods=tsm,wav2vec2=/models/wav2vec2-base \
      --config.text.checkpoint=/models/bert-base-uncased --workdir=workdirs/ssl_tsm
  python launch.py --config=configs/ssl_fusion_iemocap.py:mods=t,text=frozen --config.text.checkpoint=... --workdir=...
  python launch.py --config=configs/ssl_fusion_iemocap.py:mods=tsm,faithful,... # the seed's protocol
  python launch.py --config=configs/ssl_fusion_iemocap.py:mods=tsm,speech_pool=masked_mean,... # cheaper
  python launch.py --config=configs/ssl_fusion_iemocap.py:smoke,wav2vec2=... --config.text.checkpoint=... --workdir=/tmp/smoke

Text (`text=`): `config.text.checkpoint` is the local BERT folder (`bert=<folder>` is an alias),
tokenised to 88 tokens (`config.text.max_length`). `finetune` (default, the seed's): BERT trains
with everything else at `config.text.encoder_lr_factor` (1.0: the seed fine-tunes all of it at Adam
1e-5) x the learning rate. `frozen`: BERT runs without a backward pass and its group's rate is 0.

`speech_pool=masked_mean` (ours, not the seed's) averages wav2vec2's valid frames instead of
flattening all 768 frames of a 246,000-sample pad, so batches are grouped by length and padded to
3 s buckets (48,000 samples); see the README's model table for the measured cost of both.

`mods`: tsm (Concatenation_2), ts / tm / sm (Pairwise_Concat), t (TextBERT), s (Speech_Wav2vec),
m (MoCap, `mocap_head=cnn|cnn_lstm|gru`). Checkpoint folders hold config.json + flax_model.msgpack
or PyTorch-named model.safetensors (`mmer_jax.models.pretrained`); nothing is downloaded.
Data: `tfds_builders` iemocap/seed004 (waveform, MoCap, text), sessions as splits.
`dataset=manifest:<name>` trains on your own data (README "Your own data"; build it with
--option waveform=true) with mods t, s or ts (a manifest has no MoCap); `labels=<column>` picks its
label column, whose kind sets the task, loss and selection metric.

Settings (Concatenation_2): Adam lr 1e-5, batch 5, 100 epochs, BERT and wav2vec2 fine-tuned,
text max length 88, audio zero-padded to 246,000 samples, utterances longer than that dropped
(4,879 of 4,936 kept), labels neu/ang/exc/sad.
Clean protocol (default): train Sessions 1-3, select the epoch on Session 4, test on Session 5
(speaker-independent), softmax cross-entropy on logits.
`faithful`: train Sessions 1-4, the Session-5 test set doubles as validation (best epoch chosen on
test), the loss is cross-entropy on softmax outputs treated as logits (double softmax), and the
MoCap head/hand columns are zeros (`input.preprocess.mocap_seed_shapes`: the notebooks expect head
(200,18) / hand (200,6) but IEMOCAP stores 6 / 18 values, and a stream of another shape becomes
zeros), as in the notebooks. Expect the faithful numbers to be optimistic.

Reported (notebook outputs, accuracy on Session 5 = validation, max over epochs / final):
  tsm 0.7704 / 0.6916 (Adam; RMSprop variant 0.7502) | ts 0.7493 | tm 0.7186 | sm: no output
  t 0.6931 / 0.6721 | s 0.6399 / 0.6062 | m 0.28-0.50 (heads vary) ; paper abstract: 77.58%.
"""

from configs import common
from mmer_jax.datasets import iemocap
from mmer_jax.models.ssl_fusion import MOCAP_HEADS  # unimodal MoCap heads (mods=m)

CLASSES = list(iemocap.SCHEME_CLASSES["seed004_4class"])
SPEECH_POOLS = ("flatten", "masked_mean")
AUDIO_BUCKET = 48000  # samples (3 s at 16 kHz) per waveform bucket with speech_pool=masked_mean
REPORTED_MAX_ACC = {"tsm": 0.7704, "ts": 0.7493, "tm": 0.7186, "sm": None, "t": 0.6931, "s": 0.6399, "m": 0.50}


def canonical_mods(mods: str) -> str:
  return "".join(m for m in "tsm" if m in mods)


def get_config(arg: str | None = None):
  args = common.parse_arg(arg, smoke=False, faithful=False, mods="tsm", text="finetune", bert="", wav2vec2="",
                          audio_len=246000, mocap_head="cnn", speech_pool="flatten", dataset="iemocap", labels="")
  manifest = common.native_or_manifest(args, "iemocap")  # dataset=manifest:<name>: your own data
  mods = canonical_mods(args.mods)
  if mods not in REPORTED_MAX_ACC:
    raise ValueError(f"mods={args.mods!r}; use one of {', '.join(REPORTED_MAX_ACC)}.")
  if args.mocap_head not in MOCAP_HEADS or args.speech_pool not in SPEECH_POOLS:
    raise ValueError(f"mocap_head={args.mocap_head!r} (use {'|'.join(MOCAP_HEADS)}), "
                     f"speech_pool={args.speech_pool!r} (use {'|'.join(SPEECH_POOLS)}).")
  c = common.base_config()
  c.seed = 42
  c.text = common.text_section(args.text, checkpoint=args.bert, max_length=88,
                               encoder_lr_factor=1.0 if args.text == "finetune" else 0.0)
  c.num_epochs = 100
  c.model_name = "ssl_fusion"
  c.model.num_classes = len(CLASSES)
  c.model.modalities = mods
  c.model.text_encoder = c.text.get_ref("checkpoint") if "t" in mods else None
  c.model.freeze_text_encoder = args.text == "frozen"
  c.model.text_pooling = c.text.get_ref("pooling")  # None: the checkpoint's own (the seed's BERT: CLS)
  c.input.max_buckets = common.text_max_buckets(mods)  # token-id buckets (waveform: see speech_pool below)
  c.model.speech_encoder = args.wav2vec2 or None
  c.model.speech_pool = args.speech_pool
  c.model.mocap_head = args.mocap_head
  c.model.mask_padded_frames = not args.faithful
  c.input.tfds_name = "iemocap/seed004"
  c.input.preprocessor = "ssl_fusion"
  c.input.preprocess.tokenizer = c.text.get_ref("checkpoint")
  c.input.preprocess.text_max_length = c.text.get_ref("max_length")
  c.input.preprocess.audio_len = args.audio_len
  c.input.preprocess.drop_long_audio = True
  c.input.preprocess.meta_keys = ["id", "session", "gender"]
  c.input.preprocess.mocap_seed_shapes = bool(args.faithful)
  if args.faithful:
    c.input.splits = dict(train="session1+session2+session3+session4", valid="session5", test="session5")
  else:
    c.input.splits = dict(train="session1+session2+session3", valid="session4", test="session5")
  c.input.batch_size = 5
  c.input.eval_batch_size = 5
  if args.speech_pool == "masked_mean" and args.audio_len > AUDIO_BUCKET:
    # No flatten layer fixes the frame count, so each batch of similar-length utterances is padded
    # to the next multiple of 3 s instead of 246,000 samples (IEMOCAP turns average ~4.5 s).
    c.input.buckets = {"audio": [*range(AUDIO_BUCKET, args.audio_len, AUDIO_BUCKET), args.audio_len]}
    c.input.group_by_length = dict(key="audio", window_batches=50)
  c.task.type = "single_label"
  c.task.class_names = CLASSES
  c.loss.name = "softmax_ce"
  c.loss.double_softmax = bool(args.faithful)
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-5
  if "t" in mods:
    c.optimizer.param_group_lr = {"^text_encoder/": c.text.get_ref("encoder_lr_factor")}
  c.evaluation.selection_metric = "accuracy"
  c.evaluation.mode = "max"
  c.evaluation.slice_by = ["meta/session", "meta/gender"]
  if manifest is not None:  # task, classes and loss follow the build's label column (manifest_task.py)
    common.manifest_input(c, manifest, args.labels)
  if args.smoke:  # seconds on the builder's fixture
    c.num_epochs = 1
    c.text.max_length = 16
    c.input.preprocess.audio_len = min(args.audio_len, 16000)
    c.model.speech_pool = "masked_mean"
    c.input.buckets = {"audio": [c.input.preprocess.audio_len // 2, c.input.preprocess.audio_len]}  # shrunk
    c.input.group_by_length = dict(key="audio", window_batches=50)
    c.model.mocap_unimodal_channels = (8, 8, 8, 8, 8)
    c.model.mocap_gru_units = (16, 16, 16)
  return c
