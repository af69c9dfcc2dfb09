r"""Seed 002 MM-B: mean-pooled acoustic and lexical BLSTMs, concatenated -> Linear(512, 4).

  # 1. the unimodal mean-pool runs it starts from
  python launch.py --config=configs/multifocus_unimodal.py:modality=audio,pooling=mean --workdir=workdirs/mf_audio_mean
  python launch.py --config=configs/multifocus_unimodal.py:modality=text,pooling=mean --workdir=workdirs/mf_text_mean
  # 2. MM-B initialised from them
  python launch.py --config=configs/multifocus_mmb.py:acoustic=workdirs/mf_audio_mean,lexical=workdirs/mf_text_mean \
      --workdir=workdirs/mf_mmb
  python launch.py --config=configs/multifocus_mmb.py:smoke --workdir=/tmp/smoke    # from scratch

Seed settings: both BLSTMs taken from the pretrained unimodal mean-pool models and fine-tuned,
Adam lr 1e-4, batch 32, 6 epochs (its loop ran epochs 2..7). `init_from` copies each run's
`encoder` parameters into `acoustic` / `lexical`, and, as the seed does, initialises the fusion
layer as [W_a | W_l] with bias b_a + b_l (the sum of the unimodal logits) through an init_from entry
with `combine="concat_kernels_sum_biases"` over both runs' `head`.

Reported (seed README, random 80/20, best test epoch, %): TEST loss 0.6544, WA 75.72, UA 75.99,
per-class recall ang 77.33 hap 75.14 neu 74.47 sad 77.00; TRAIN loss 0.6243, WA 77.79, UA 78.24.
(The notebook's own output shows 72.46 / 72.24 at epoch 7.) The seed re-drew its random split per
notebook, so MM-B's test utterances may have been in the unimodal models' training data.
"""

from configs import multifocus_common


def get_config(arg: str | None = None):
  args, c = multifocus_common.bimodal(arg, "multifocus_mmb")
  c.num_epochs = 6
  c.init_from = [{"workdir": wd, "source": "encoder", "target": target}
                 for wd, target in ((args.acoustic, "acoustic"), (args.lexical, "lexical")) if wd]
  if args.acoustic and args.lexical:
    c.init_from.append({"workdirs": [args.acoustic, args.lexical], "source": "head", "target": "head",
                        "combine": "concat_kernels_sum_biases"})
  if args.smoke:
    multifocus_common.shrink_for_smoke(c)
  return c
