r"""Seed 002 MMMLA: attention-pooled acoustic and lexical BLSTMs -> GMU(128) -> Linear(128, 4).

  # 1. the unimodal attention runs it starts from
  python launch.py --config=configs/multifocus_unimodal.py:modality=audio,pooling=attention --workdir=workdirs/mf_audio_att
  python launch.py --config=configs/multifocus_unimodal.py:modality=text,pooling=attention --workdir=workdirs/mf_text_att
  # 2. MMMLA initialised from them
  python launch.py --config=configs/multifocus_mmmla.py:acoustic=workdirs/mf_audio_att,lexical=workdirs/mf_text_att \
      --workdir=workdirs/mf_mmmla
  python launch.py --config=configs/multifocus_mmmla.py:smoke --workdir=/tmp/smoke   # from scratch

Seed settings: BLSTMs and their context-attention layers (the low-level attention) come from the
pretrained unimodal attention models (`init_from` copies each run's `encoder` = blstm + attention
into `acoustic` / `lexical`); the GMU and the output layer start fresh. Adam lr 1e-4, batch 32,
2 epochs. The model sows `intermediates/{acoustic_attention, lexical_attention, gate}`.

Reported (seed README, random 80/20, best test epoch, %): TEST loss 0.5862, WA 77.72, UA 78.31,
per-class recall ang 83.11 hap 75.14 neu 75.98 sad 79.00; TRAIN loss 0.5157, WA 81.45, UA 81.94.
(Notebook output "MMMA" epoch 2: 73.10 / 74.36.)

Seed bug: its constructor loads the pretrained acoustic attention into `LL_attention_a` without
`self.`, which only runs if a global of that name exists, and then leaves the model's own acoustic
attention at its random initialisation. The clean protocol copies the acoustic attention as
intended; `protocol=faithful` copies only the acoustic BLSTM (attention stays freshly initialised).
"""

from configs import multifocus_common


def get_config(arg: str | None = None):
  args, c = multifocus_common.bimodal(arg, "multifocus_mmmla")
  c.model.attention_dim = 64
  c.model.gmu_features = 128
  c.num_epochs = 2
  # Faithful: the seed's acoustic attention is never actually loaded (see the docstring).
  acoustic_part = "blstm" if args.protocol == "faithful" else ""
  c.init_from = [{"workdir": wd, "source": f"encoder/{part}".rstrip("/"), "target": f"{target}/{part}".rstrip("/")}
                 for wd, target, part in ((args.acoustic, "acoustic", acoustic_part), (args.lexical, "lexical", ""))
                 if wd]
  if args.smoke:
    multifocus_common.shrink_for_smoke(c)
    c.model.gmu_features = 8
  return c
