r"""The PyTorch peer of benchmarks/vs_pytorch_text.py: Hugging Face's Trainer fine-tuning the same checkpoint.

  .venv-torch/bin/python benchmarks/originals/text_torch_side.py --data=<meld.json> --recipe=<recipe.json> \
      --threads=2 --warmup=3

Runs in .venv-torch (torch 2.13 CPU, transformers 4.57.6, accelerate; `make venv-torch`). It is what
a practitioner writes: every utterance tokenised once (truncated at the recipe's max_length, not
padded), then `Trainer` with `group_by_length=True` (its LengthGroupedSampler: a random permutation
cut into megabatches of 50 batches, each sorted longest first) and `DataCollatorWithPadding` (each
batch padded to its own longest utterance). The Trainer rather than a hand-written loop because its
data loading, collation, clipping and optimizer step are part of what its users wait for.

The recipe (recipe.json) is the one the mmer_jax side read from configs/text_classifier.py:
- the same model: the checkpoint's BERT encoder without its pooler, the checkpoint's pooling
  (mean over real tokens for all-MiniLM-L6-v2), dropout, a linear head initialised N(0, 0.02);
- AdamW of the Trainer's default kind (torch's fused AdamW) with the recipe's betas and eps, the
  encoder at learning_rate x encoder_lr_factor and the head at learning_rate, weight decay on every
  parameter but biases and LayerNorm weights (the Trainer's own rule, the same as the config's);
- gradient clipping at clip_norm; the Trainer's "linear" schedule with warmup_ratio =
  warmup_fraction of num_epochs x steps_per_epoch steps (the Trainer rounds the warm-up up, the
  config to the nearest step: at most one step apart);
- batch 32 with the last partial batch dropped (`dataloader_drop_last`), as mmer_jax drops it, so
  both run the same number of steps per epoch; evaluation at mmer_jax's evaluation batch size, in
  length-grouped batches (the Trainer groups evaluation batches too when group_by_length is set).

Protocol: as originals/worker.py (MARKER lines out, one JSON command per stdin line). The whole run
is one `trainer.train()`: a TrainerCallback pauses it inside `on_step_end` after the warm-up steps
and after each round's steps, evaluates, replies and waits for the next command, so every round
continues one run (its schedule, sampler order and optimizer state), as on the mmer_jax side. A
round's time runs from the end of the pause to the end of its last step, batch loading included.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

HERE = Path(__file__).resolve().parent


def f1_weighted(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> float:
  """Per-class F1 averaged with each class's support as weight (scikit-learn's `average="weighted"`
  with zero_division=0), so both sides report the same score."""
  y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
  total = 0.0
  for c in range(num_classes):
    tp = np.sum((y_pred == c) & (y_true == c))
    denominator = 2 * tp + np.sum((y_pred == c) & (y_true != c)) + np.sum((y_pred != c) & (y_true == c))
    total += np.sum(y_true == c) * (2 * tp / denominator if denominator else 0.0)
  return float(total / len(y_true))


def build(data: dict, recipe: dict, output_dir: str, callbacks=()):
  """(trainer, train rows, test rows) for the recipe; torch and transformers are imported here only."""
  import torch  # noqa: PLC0415
  import torch.nn.functional as F  # noqa: PLC0415
  from torch import nn  # noqa: PLC0415
  from transformers import AutoModel, AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments  # noqa: PLC0415

  class Classifier(nn.Module):
    """mmer_jax's text_classifier in torch: encoder -> pooling -> dropout -> linear."""

    def __init__(self):
      super().__init__()
      self.encoder = AutoModel.from_pretrained(recipe["checkpoint"], add_pooling_layer=False)
      config = self.encoder.config
      self.dropout = nn.Dropout(recipe["dropout"])
      self.head = nn.Linear(config.hidden_size, recipe["num_classes"])
      nn.init.normal_(self.head.weight, std=getattr(config, "initializer_range", 0.02))
      nn.init.zeros_(self.head.bias)

    def forward(self, input_ids, attention_mask, token_type_ids=None, labels=None):
      hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                            token_type_ids=token_type_ids).last_hidden_state
      if recipe["pooling"] == "mean":  # sentence-transformers' mean over real tokens
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
      else:
        pooled = hidden[:, 0]
      logits = self.head(self.dropout(pooled))
      out = {"logits": logits}
      if labels is not None:
        out["loss"] = F.cross_entropy(logits, labels)
      return out

  class PeerTrainer(Trainer):
    """The Trainer with two parameter groups' learning rates (its documented extension point), and
    each training batch's shape and loss noted for the round's record."""

    def create_optimizer(self):
      if self.optimizer is None:
        decay = set(self.get_decay_parameter_names(self.model))
        optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, self.model)
        groups = []
        for encoder in (True, False):
          lr = self.args.learning_rate * (recipe["encoder_lr_factor"] if encoder else 1.0)
          for decays in (True, False):
            params = [p for n, p in self.model.named_parameters()
                      if p.requires_grad and n.startswith("encoder.") == encoder and (n in decay) == decays]
            if params:
              groups.append({"params": params, "lr": lr, "weight_decay": self.args.weight_decay if decays else 0.0})
        self.optimizer = optimizer_cls(groups, **kwargs)
      return self.optimizer

    def training_step(self, model, inputs, num_items_in_batch=None):
      self.batch_widths.append(int(inputs["input_ids"].shape[1]))
      loss = super().training_step(model, inputs, num_items_in_batch)
      self.losses.append(loss)
      return loss

  tokenizer = AutoTokenizer.from_pretrained(recipe["checkpoint"], local_files_only=True)

  def rows(split):
    texts = [row["text"] for row in data[split]]
    encoded = tokenizer(texts, truncation=True, max_length=recipe["max_length"])
    return [{**{k: v[i] for k, v in encoded.items()}, "labels": row["label"]} for i, row in enumerate(data[split])]

  def metrics(prediction):
    y_pred = np.asarray(prediction.predictions).argmax(-1)
    y_true = np.asarray(prediction.label_ids)
    return {"accuracy": float(np.mean(y_pred == y_true)), "f1_weighted": f1_weighted(y_true, y_pred, recipe["num_classes"])}

  args = TrainingArguments(
      output_dir=output_dir, per_device_train_batch_size=recipe["batch_size"],
      per_device_eval_batch_size=recipe["eval_batch_size"], num_train_epochs=recipe["num_epochs"],
      learning_rate=recipe["learning_rate"], weight_decay=recipe["weight_decay"], adam_beta1=recipe["b1"],
      adam_beta2=recipe["b2"], adam_epsilon=recipe["eps"], max_grad_norm=recipe["clip_norm"],
      lr_scheduler_type="linear", warmup_ratio=recipe["warmup_fraction"], group_by_length=True,
      dataloader_drop_last=True, seed=recipe["seed"], use_cpu=True, report_to="none", save_strategy="no",
      eval_strategy="no", logging_strategy="no", disable_tqdm=True)
  torch.manual_seed(recipe["seed"])
  train, test = rows("train"), rows("test")
  trainer = PeerTrainer(model=Classifier(), args=args, train_dataset=train, eval_dataset=test,
                        data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
                        compute_metrics=metrics, callbacks=list(callbacks))
  trainer.batch_widths, trainer.losses = [], []
  return trainer, train, test


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--data", required=True, help="JSON {classes, train, test} written by vs_pytorch_text.py.")
  parser.add_argument("--recipe", required=True, help="JSON recipe the mmer_jax side read from its config.")
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--warmup", type=int, default=3)
  args = parser.parse_args()
  sys.path.insert(0, str(HERE.parent))
  from originals.worker import peak_memory_mb, reply  # noqa: PLC0415
  import tempfile  # noqa: PLC0415

  try:
    import torch  # noqa: PLC0415
    import transformers  # noqa: PLC0415
    from transformers import TrainerCallback  # noqa: PLC0415
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()  # after the imports, as the mmer_jax side measures

    class Rounds(TrainerCallback):
      """Pauses the run after the warm-up steps and after each round's steps (see the module docstring)."""

      def __init__(self):
        self.target, self.steps, self.elapsed, self.phase = args.warmup, 0, 0.0, "warmup"
        self.mark = self.train_started = 0.0

      def on_train_begin(self, *a, **kw):
        self.mark = time.perf_counter()

      def on_step_end(self, train_args, state, control, **kw):
        now = time.perf_counter()
        self.elapsed += now - self.mark
        self.steps += 1
        if self.steps == self.target:
          self._pause(control)
        self.mark = time.perf_counter()
        return control

      def _evaluate(self) -> dict:
        t0 = time.perf_counter()
        scores = trainer.evaluate()
        return {"eval_s": time.perf_counter() - t0, "eval_examples": len(test),
                "eval_metrics": {"accuracy": scores["eval_accuracy"], "f1_weighted": scores["eval_f1_weighted"],
                                 "loss": scores["eval_loss"]}}

      def _pause(self, control) -> None:
        losses, widths = trainer.losses, trainer.batch_widths
        record = {"train_s": self.elapsed, "steps": self.steps, "samples": self.steps * args_batch,
                  "compile_s": 0.0, "loss": float(torch.stack(losses).mean()) if losses else None,
                  "padded_length": float(np.mean(widths)) if widths else None}
        evaluation = self._evaluate()
        if self.phase == "warmup":
          reply({"ready": True, "setup_s": setup_s, "warmup_s": time.perf_counter() - self.train_started,
                 "info": {"framework": f"PyTorch {torch.__version__} + transformers {transformers.__version__} Trainer",
                          "threads": torch.get_num_threads(), "optimizer": type(trainer.optimizer).__name__,
                          "fused": bool(trainer.optimizer.defaults.get("fused")),
                          "params": sum(p.numel() for p in trainer.model.parameters())},
                 "pid": os.getpid()})
        else:
          reply({**record, **evaluation, "loadavg": os.getloadavg()})
        line = sys.stdin.readline()
        cmd = json.loads(line) if line.strip() else {"cmd": "quit"}
        if cmd["cmd"] == "round":
          self.phase, self.target, self.steps, self.elapsed = "round", int(cmd["steps"]), 0, 0.0
          trainer.losses.clear()
          trainer.batch_widths.clear()
        else:
          reply(peak_memory_mb())
          control.should_training_stop = True

    recipe = json.loads(Path(args.recipe).read_text())
    args_batch = recipe["batch_size"]
    rounds = Rounds()
    with tempfile.TemporaryDirectory(prefix="vs_pytorch_text_torch_") as output_dir:
      trainer, train, test = build(json.loads(Path(args.data).read_text()), recipe, output_dir, [rounds])
      setup_s = time.perf_counter() - t_start
      rounds.train_started = time.perf_counter()  # the warm-up includes the Trainer's own set-up in train()
      trainer.train()
  except Exception as e:  # reported to the driver, which says so and stops
    reply({"error": f"{type(e).__name__}: {e}"})
    raise


if __name__ == "__main__":
  main()
