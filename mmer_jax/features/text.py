"""Transcript clean-up variants, Hugging Face tokenisation and TF-IDF.

Clean-up variants (each reproduces one seed; pick with the preprocessor config):
- `seed003_normalize`: seed 003's `normalizeString` (lowercase, strip accents, a space before . ! ?,
  every other non-letter -> space). Used on the transcriptions/<dialog>.txt text.
- `seed002_transcript`: seed 002 builds the lexical input from the ForcedAlignment .wdseg words:
  pronunciation-variant suffixes `(2)` removed, lowercased, contractions expanded (`contractions`
  package), `<s>` -> `[CLS]`, `</s>` -> `[SEP]`, `++garbage++` removed; `<sil>`, `++laughter++` and
  `++breathing++` stay and become extra special tokens of the tokenizer (SEED002_SPECIAL_TOKENS).
- `plain_words`: the spoken words of a .wdseg only (no fillers, no markers), for other front ends.

TF-IDF follows the preprocessor contract: it is fitted on the TRAIN split only (seed 003 fitted it
on train+test; reproduce that only through the preprocessor's explicitly named leaking flag).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from mmer_jax import checkpoint_folder

SEED002_SPECIAL_TOKENS: tuple[str, ...] = ("<sil>", "++laughter++", "++breathing++")
# Transcripts seed 002 drops entirely (noise-only turns), compared after lowercasing.
SEED002_NOISE_ONLY: tuple[str, ...] = ("<s> ++garbage++ </s>", "<s> ++breathing++ </s>")
_VARIANT_SUFFIX = re.compile(r"\(\d+\)$")


def seed003_normalize(text: str) -> str:
  """Seed 003's `normalizeString`: lowercase, ASCII-fold, space before .!?, other non-letters -> ' '."""
  folded = "".join(c for c in unicodedata.normalize("NFD", text.lower().strip())
                   if unicodedata.category(c) != "Mn")
  spaced = re.sub(r"([.!?])", r" \1", folded)
  return re.sub(r"[^a-zA-Z.!?]+", " ", spaced)


def strip_variant(word: str) -> str:
  """`WORD(2)` -> `WORD`: Sphinx marks alternative pronunciations with a numbered suffix."""
  return _VARIANT_SUFFIX.sub("", word)


def plain_words(words: Sequence[str]) -> list[str]:
  """Spoken words only: drops `<s>`, `</s>`, `<sil>` and `++noise++` markers, strips variants."""
  out = []
  for word in words:
    if word.startswith("<") or (word.startswith("++") and word.endswith("++")):
      continue
    out.append(strip_variant(word))
  return out


def _fix_contractions(text: str) -> str:
  try:
    import contractions
  except ImportError as e:  # optional dependency, only seed 002's variant needs it
    raise ImportError("seed002_transcript needs the `contractions` package: "
                      "pip install contractions==0.1.73") from e
  return contractions.fix(text)


def seed002_transcript(words: Sequence[str]) -> str:
  """Seed 002's lexical string from .wdseg words, e.g. `[CLS] <sil> i am here ++laughter++ [SEP]`."""
  text = " ".join(strip_variant(w) for w in words).lower()
  text = _fix_contractions(text)
  text = text.replace("</s>", "[SEP]").replace("<s>", "[CLS]").replace("++garbage++", " ")
  return " ".join(text.split())


def seed002_transcript_from_text(transcript: str) -> str:
  """Seed 002's string for a turn that has no .wdseg words: its transcript between `<s>` and `</s>`.

  The encoder tokenises seed 002 strings without adding special tokens (they carry their own
  `[CLS]`/`[SEP]`), so a fallback text must carry them too, or its first state is not `[CLS]`.
  """
  return seed002_transcript(["<s>", *transcript.split(), "</s>"])


def is_seed002_noise_only(words: Sequence[str]) -> bool:
  """True for the transcripts seed 002 drops (`<s> ++GARBAGE++ </s>` and `<s> ++BREATHING++ </s>`)."""
  return " ".join(words).lower() in SEED002_NOISE_ONLY


# --------------------------------------------------------------------------------------------------
# Tokenisation


@dataclasses.dataclass(frozen=True)
class TokenizedText:
  ids: np.ndarray   # (B, L) int32
  mask: np.ndarray  # (B, L) bool, True = real token
  token_type_ids: np.ndarray  # (B, L) int32


def load_tokenizer(path: str, extra_special_tokens: Sequence[str] = ()):
  """The checkpoint folder's tokenizer (`checkpoint_folder.tokenizer`) with extra special tokens appended."""
  tokenizer = checkpoint_folder.tokenizer(path)
  if extra_special_tokens:
    tokenizer.add_special_tokens({"additional_special_tokens": list(extra_special_tokens)})
  return tokenizer


def tokenize(tokenizer, texts: Sequence[str], max_length: int, *,
             add_special_tokens: bool = True) -> TokenizedText:
  """Pads to `max_length` and truncates (SAMSEMO: 50, seed 004: 128).

  `add_special_tokens=False` for texts that already carry them (seed 002 writes `[CLS]`/`[SEP]` in
  place of `<s>`/`</s>` and tokenises without adding more).
  """
  enc = tokenizer(list(texts), max_length=max_length, padding="max_length", truncation=True,
                  return_tensors="np", return_token_type_ids=True, add_special_tokens=add_special_tokens)
  return TokenizedText(ids=enc["input_ids"].astype(np.int32),
                       mask=enc["attention_mask"].astype(bool),
                       token_type_ids=enc["token_type_ids"].astype(np.int32))


# --------------------------------------------------------------------------------------------------
# TF-IDF

# Seed 003's vectoriser (Sahu 2019 lineage); with IEMOCAP's full text it gives 2464 features.
SEED003_TFIDF_PARAMS: Mapping[str, Any] = dict(
    sublinear_tf=True, min_df=5, norm="l2", encoding="latin-1", ngram_range=(1, 2),
    stop_words="english")


def fit_tfidf(train_texts: Iterable[str], **overrides: Any):
  """A TfidfVectorizer fitted on the given (train-split) texts, seed 003's parameters by default."""
  from sklearn.feature_extraction.text import TfidfVectorizer
  params = {**SEED003_TFIDF_PARAMS, **overrides}
  vectorizer = TfidfVectorizer(**params)
  texts = list(train_texts)
  try:
    vectorizer.fit(texts)
  except ValueError as e:  # empty vocabulary: too few train texts for min_df, or only stop words
    raise ValueError(f"TF-IDF could not be fitted on {len(texts)} train texts with {params}: {e}. "
                     "Lower min_df for small data.") from e
  return vectorizer


def tfidf_transform(vectorizer, texts: Iterable[str]) -> np.ndarray:
  return vectorizer.transform(list(texts)).toarray().astype(np.float32)


def tfidf_state(vectorizer) -> dict[str, Any]:
  """JSON-able state (parameters, vocabulary in column order, idf) to save with a preprocessor."""
  params = {k: v for k, v in vectorizer.get_params().items()
            if k in SEED003_TFIDF_PARAMS or k in ("lowercase", "max_df", "max_features")}
  params["ngram_range"] = list(params.get("ngram_range", (1, 1)))
  vocabulary = [None] * len(vectorizer.vocabulary_)
  for term, column in vectorizer.vocabulary_.items():
    vocabulary[column] = term
  return {"params": params, "vocabulary": vocabulary, "idf": vectorizer.idf_.tolist()}


def tfidf_from_state(state: Mapping[str, Any]):
  """Rebuilds a fitted TfidfVectorizer from `tfidf_state` output (identical transform)."""
  from sklearn.feature_extraction.text import TfidfVectorizer
  params = dict(state["params"])
  params["ngram_range"] = tuple(params.get("ngram_range", (1, 1)))
  vectorizer = TfidfVectorizer(**params, vocabulary={t: i for i, t in enumerate(state["vocabulary"])})
  vectorizer.idf_ = np.asarray(state["idf"], dtype=np.float64)
  return vectorizer
