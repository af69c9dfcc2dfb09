"""Inputs of the `text_classifier` model: the transcript as token ids of the checkpoint's tokenizer,
and a label read from the dataset's stored fields through a label scheme.

Options (`config.input.preprocess`, the fields of `TextClassifierOptions`):
- `dataset`: iemocap | samsemo | cmu_mosei (which stored field holds the label); derived from
  `input.tfds_name` when that names one of them;
- `labels`: a scheme of `label_schemes.DATASET_SCHEMES[dataset]` (IEMOCAP: the raw code `label`
  through e.g. `iemocap_6class`; SAMSEMO: the multi-hot `labels`; CMU-MOSEI raw: `emotions`);
  examples outside the scheme are dropped by `keep`;
- `tokenizer`: the checkpoint folder (its tokenizer files are read, nothing is downloaded);
- `max_length`: tokens per transcript including [CLS]/[SEP]; None = min(128, the checkpoint's
  limit), since IEMOCAP and SAMSEMO utterances are short and attention cost grows with the square.
  It is the cap: batches are padded only to length buckets chosen from the training transcripts
  (`length_groups` / `lengths` below; mmer_jax/data/pipeline.py);
- `text_field`: the transcript field (`text`; SAMSEMO also stores the English `text_en`);
- `meta_keys`: stored fields copied to `meta/*` for sliced reports;
- `context`: previous dialogue turns read with each utterance, derived from `input.context.k`
  (dialog_context.py): the input is the pair (context, "Speaker: utterance"), `text_type` marks the
  target's tokens, and `max_length` defaults to dialog_context.MAX_LENGTH.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Optional

import numpy as np
from ml_collections import ConfigDict

from mmer_jax import checkpoint_folder, registry
from mmer_jax.data import dialog_context, label_schemes
from mmer_jax.data.length_buckets import LengthGroup
from mmer_jax.data.preprocess.base import Example, Preprocessor, as_str, meta_fields
from mmer_jax.data.preprocess.options import dataset_family
from mmer_jax.data.preprocess.text_tokens import TextTokens

DEFAULT_MAX_LENGTH = 128


@dataclasses.dataclass(frozen=True)
class TextClassifierOptions:
  dataset: str = "iemocap"            # a key of label_schemes.DATASET_SCHEMES
  labels: str = "iemocap_6class"      # a scheme that fits `dataset`
  tokenizer: Optional[str] = None     # the checkpoint folder (config.text.checkpoint)
  max_length: Optional[int] = None    # None: min(DEFAULT_MAX_LENGTH, the checkpoint's limit)
  text_field: str = "text"
  meta_keys: tuple = ("id",)
  context: int = 0                    # previous dialogue turns (input.context.k); 0 = the utterance alone

  @staticmethod
  def derive(config: ConfigDict) -> dict:
    family = dataset_family(config.input.tfds_name)
    spec = dialog_context.ContextSpec.from_config(config.input)
    return ({"dataset": family} if family in label_schemes.DATASET_SCHEMES else {}) | {"context": spec.k if spec else 0}


class TextClassifierPreprocessor(Preprocessor):

  def __init__(self, options: TextClassifierOptions):
    self.dataset = options.dataset
    self.scheme = label_schemes.scheme_for(self.dataset, options.labels)
    self.label_field = "label" if isinstance(self.scheme, label_schemes.LabelScheme) else self.scheme.field
    self.tokenizer_folder = options.tokenizer
    if not self.tokenizer_folder:
      raise ValueError("preprocess.tokenizer is not set: point config.text.checkpoint at a local BERT-family "
                       "folder (its tokenizer encodes the transcripts).")
    limit = checkpoint_folder.max_length(self.tokenizer_folder)
    self.context = int(options.context)
    default = dialog_context.MAX_LENGTH if self.context else DEFAULT_MAX_LENGTH
    self.max_length = int(options.max_length or min(default, limit))
    if not 2 < self.max_length <= limit:
      raise ValueError(f"preprocess.max_length={self.max_length}; {self.tokenizer_folder} takes 3..{limit} tokens.")
    self.text_field = options.text_field
    self.meta_keys = tuple(options.meta_keys)
    self._tokens = TextTokens(self.tokenizer_folder, self.max_length)  # loads the tokenizer on first use
    self._pair_tokenizers: dict[int, object] = {}  # per thread: pair encoding changes tokenizer settings

  def label(self, example: Example):
    return self.scheme.target(example[self.label_field])

  def keep(self, example: Example) -> bool:
    return self.label(example) is not None

  def tokenize(self, text: str) -> tuple[np.ndarray, np.ndarray]:
    return self._tokens(text)

  def tokenize_in_context(self, example: Example) -> dict[str, np.ndarray]:
    turns, target = dialog_context.require(example, self.context)
    tokenizer = self._pair_tokenizers.get(threading.get_ident())
    if tokenizer is None:
      tokenizer = checkpoint_folder.tokenizer(self.tokenizer_folder)
      self._pair_tokenizers[threading.get_ident()] = tokenizer
    ids, mask, types = dialog_context.encode(tokenizer, turns, target, self.max_length)
    return {"text": ids, "text_mask": mask, "text_type": types}

  def length_groups(self) -> dict[str, LengthGroup]:
    return {"text": LengthGroup(self.max_length)}

  def lengths(self, example: Example) -> dict[str, int]:
    """Real tokens of the input (its context included), without the label or metadata."""
    if self.context:
      return {"text": int(self.tokenize_in_context(example)["text_mask"].sum())}
    return {"text": int(self.tokenize(as_str(example[self.text_field]))[1].sum())}

  def __call__(self, example: Example) -> dict[str, np.ndarray]:
    if self.context:
      out = {**self.tokenize_in_context(example), "label": self.label(example)}
    else:
      ids, mask = self.tokenize(as_str(example[self.text_field]))
      out = {"text": ids, "text_mask": mask, "label": self.label(example)}
    out.update(meta_fields(example, self.meta_keys))
    return out


@registry.PREPROCESSORS.register("text_classifier")
def make(options: TextClassifierOptions) -> TextClassifierPreprocessor:
  return TextClassifierPreprocessor(options)
