"""Dialogue context for text models (opt-in, `config.input.context`): each utterance is read together
with the k turns that precede it in its conversation, as the strongest text-only conversation-emotion
systems do (EmoBERTa: "Speaker: utterance" turns, the past then the target).

    config.input.context = dict(k=2, dialog="dialog", order="order", speaker="speaker", text="text",
                                speaker_names={})

The stored fields are named, not assumed (`DialogFields`): which field is the conversation, which
orders its turns (a number: a start time, a turn index), which names the speaker, which holds the
text. `DATASET_FIELDS` gives them per dataset family: IEMOCAP's from `mmer_jax.datasets.iemocap`
(`start` orders turns, the speaker is the F/M actor that `gender` stores); a manifest dataset names
its own fields.

Where context comes from, and why:
- Only from the same split's examples (`DialogContextSource` wraps one split's source): splits never
  mix dialogues even where ids repeat across them (MELD's Dialogue_IDs restart in every split), and
  the dialog hold-out (dialog_split.py), which moves whole dialogs, keeps every turn's context on its
  side. Every host wraps the whole split before taking its share of examples, so a host's examples
  get their full context whichever host holds the turns before them.
- From every example of the split, also those the task drops (IEMOCAP's `xxx` turns): they were
  said in the conversation. Only text is read, never a label, so nothing leaks.
- Turns that share an order value keep their stored order. An empty dialog id means "no
  conversation": such an example gets no context.

Encoding (`encode`): `[CLS] context [SEP] target [SEP]`, the context the previous turns joined
oldest first, the target "Speaker: utterance" as the second segment (token type 1 marks it for
BERT-family encoders, and it always sits between the last two separators). The TARGET is never
truncated for context: whole turns are dropped from the oldest side until the rest fits, and if even
the newest turn alone does not, its oldest tokens go. Only a target longer than the whole budget is
cut (from its end, as without context), and then it has no context.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from ml_collections import ConfigDict

from mmer_jax import progress
from mmer_jax.datasets import iemocap
from mmer_jax.errors import ConfigError, UserError

# Fields a wrapped example gains: the rendered previous turns (oldest first) and the rendered target.
TURNS_KEY = "context/turns"
TARGET_KEY = "context/target"
# Tokens per input with context when the config names none (capped at the checkpoint's limit). MELD's
# train split, all-MiniLM-L6-v2's tokenizer, speaker markers and specials included: k=1 mean 29.5, p99 64;
# k=2 mean 40.7, p99 85; k=3 mean 50.7, p99 104, 99.9% within 128 (and only the oldest turns are cut
# beyond it). 256 would double the step for the last 0.1%.
MAX_LENGTH = 128


class ContextMissingError(UserError):
  """An example reached a context-trained preprocessor without its dialogue context (e.g. a predict row).
  Not a ValueError / OSError: predict must stop with the message, not skip the row."""


@dataclasses.dataclass(frozen=True)
class DialogFields:
  """The stored fields that place an example in its conversation (the defaults are the manifest
  builder's role names)."""
  dialog: str = "dialog"
  order: str = "order"
  speaker: str = "speaker"
  text: str = "text"
  speaker_names: tuple[tuple[str, str], ...] = ()  # (stored value, shown name); others shown as stored


DATASET_FIELDS: dict[str, DialogFields] = {
    "iemocap": DialogFields(order=iemocap.DIALOG_ORDER_FIELD, speaker=iemocap.SPEAKER_FIELD,
                            speaker_names=iemocap.SPEAKER_NAMES),
    "manifest": DialogFields(),
}


@dataclasses.dataclass(frozen=True)
class ContextSpec:
  k: int
  fields: DialogFields

  @classmethod
  def from_config(cls, input_cfg: ConfigDict) -> Optional["ContextSpec"]:
    """`input.context` as a spec, or None when absent or k == 0."""
    section = input_cfg.context
    if not section or not int(section.k or 0):
      return None
    section = dict(section)
    k = int(section.pop("k"))
    if k < 0:
      raise ConfigError(f"config.input.context.k={k}; use the number of previous turns (0: no context).")
    known = {f.name for f in dataclasses.fields(DialogFields)}
    unknown = sorted(set(section) - known)
    if unknown:
      raise ConfigError(f"config.input.context.{unknown[0]} is not a context field; its fields: k, "
                        f"{', '.join(sorted(known))}.")
    names = section.pop("speaker_names", None) or {}
    return cls(k, DialogFields(**section, speaker_names=tuple(sorted(dict(names).items()))))


def fields_for(dataset: str) -> DialogFields:
  if dataset not in DATASET_FIELDS:
    raise ConfigError(f"context= needs a conversation dataset ({', '.join(DATASET_FIELDS)}); {dataset!r} has "
                      "no dialogs. For your own data, build a manifest with dialog and order columns.")
  return DATASET_FIELDS[dataset]


def _text(value: Any) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def render_turn(speaker: str, text: str) -> str:
  """'Speaker: utterance' (EmoBERTa's turn format); just the utterance when the speaker is unknown."""
  text = text.strip()
  return f"{speaker}: {text}" if speaker else text


def previous_turns(dialogs: Sequence[str], orders: Sequence[float], k: int) -> list[np.ndarray]:
  """For each example index, the indices of the (up to) k examples of its dialog just before it,
  oldest first. Ties in `orders` keep the stored order; an empty dialog id has no turns before it."""
  n = len(dialogs)
  out = [np.zeros(0, np.int64)] * n
  if n == 0 or k <= 0:
    return out
  dialog_ids = np.unique(np.asarray(dialogs, dtype=object).astype(str), return_inverse=True)[1]
  ordered = np.lexsort((np.arange(n), np.asarray(orders, np.float64), dialog_ids))
  begin = 0
  for end in range(1, n + 1):
    if end < n and dialog_ids[ordered[end]] == dialog_ids[ordered[begin]]:
      continue
    group = ordered[begin:end]
    if dialogs[group[0]]:
      for position, index in enumerate(group):
        out[index] = group[max(0, position - k):position]
    begin = end
  return out


def newest_that_fit(lengths: Sequence[int], room: int) -> int:
  """How many of the newest turns (`lengths` oldest first, in tokens) fit in `room` tokens together."""
  total, count = 0, 0
  for length in reversed(lengths):
    if total + length > room:
      break
    total, count = total + length, count + 1
  return count


def encode(tokenizer: Any, turns: Sequence[str], target: str,
           max_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(token ids, attention mask, token types) of `[CLS] context [SEP] target [SEP]`, padded to
  `max_length`, with the truncation rule of the module docstring.

  `tokenizer` is a Hugging Face fast tokenizer that only this thread uses: each call sets its
  truncation side and padding, which a tokenizer shared between threads must not change."""
  pieces = tokenizer([*turns, target], add_special_tokens=False)["input_ids"]
  room = max_length - tokenizer.num_special_tokens_to_add(pair=True) - len(pieces[-1])
  kept = 0
  if room > 0 and turns:
    kept = max(1, newest_that_fit([len(p) for p in pieces[:-1]], room))  # the newest, cut if it must be
  context = " ".join(turns[len(turns) - kept:]) if kept else ""
  tokenizer.truncation_side = "left" if kept else "right"
  enc = tokenizer(context, target, max_length=max_length, padding="max_length",
                  truncation="only_first" if kept else "only_second", return_token_type_ids=True,
                  return_tensors="np")
  return (enc["input_ids"][0].astype(np.int32), enc["attention_mask"][0].astype(bool),
          enc["token_type_ids"][0].astype(np.int32))


def require(example: Mapping[str, Any], k: int) -> tuple[tuple[str, ...], str]:
  """The example's (turns, target), or a one-line error saying why a context-trained run cannot read it."""
  if TURNS_KEY not in example or TARGET_KEY not in example:
    raise ContextMissingError(
        f"This run reads each utterance with its {k} previous dialogue turns (input.context), which the "
        "input pipeline adds to a dataset's splits; this example has none (prediction rows carry no "
        "dialog yet): use a run trained without context= for `--mode=predict`.")
  return tuple(example[TURNS_KEY]), str(example[TARGET_KEY])


class DialogContextSource:
  """A split's examples, each with its context turns (`TURNS_KEY`) and rendered target (`TARGET_KEY`).

  The context is computed once, in one pass over the split that keeps only the four fields it
  needs; reads then add two small fields to the stored example."""

  def __init__(self, source: Sequence[Mapping[str, Any]], spec: ContextSpec, desc: str = "dialog context",
               show: bool = True):
    self.source = source
    fields = spec.fields
    names = dict(fields.speaker_names)
    dialogs, orders, rendered = [], [], []
    for i in progress.iterate(range(len(source)), desc=desc, leave=False, unit="examples", enabled=show):
      example = source[i]
      missing = [role for role in ("dialog", "order", "speaker", "text") if getattr(fields, role) not in example]
      if missing:
        role = missing[0]
        raise ConfigError(f"config.input.context.{role}={getattr(fields, role)!r}: the examples have no such "
                          f"field; name the field that holds the {role} (fields: {', '.join(sorted(example))}).")
      dialogs.append(_text(example[fields.dialog]))
      try:
        orders.append(float(np.asarray(example[fields.order])))
      except (TypeError, ValueError):
        raise ConfigError(f"config.input.context.order={fields.order!r} holds {example[fields.order]!r}; "
                          "name a numeric field that orders a dialog's turns (a start time, a turn index).") from None
      speaker = _text(example[fields.speaker])
      rendered.append(render_turn(names.get(speaker, speaker), _text(example[fields.text])))
    if dialogs and not any(dialogs):  # e.g. a manifest built without a dialog column
      raise ConfigError(f"context= needs dialog ids, and field {fields.dialog!r} is empty in every example "
                        f"({desc}); build the dataset with its dialog column (manifest: --option dialog=<column>).")
    self.rendered = rendered
    self.before = previous_turns(dialogs, orders, spec.k)

  def __len__(self) -> int:
    return len(self.source)

  def turns(self, i: int) -> tuple[str, ...]:
    return tuple(self.rendered[j] for j in self.before[i])

  def __getitem__(self, i: int) -> dict[str, Any]:
    example = dict(self.source[i])
    example[TURNS_KEY] = self.turns(i)
    example[TARGET_KEY] = self.rendered[i]
    return example


def with_context(input_cfg: ConfigDict, raw: Mapping[str, Sequence[Any]],
                 show: bool = True) -> dict[str, Sequence[Any]]:
  """Each split wrapped in its own `DialogContextSource` when `input.context` asks for context;
  otherwise `raw` unchanged. Call it after the dialog hold-out and before extra training sources
  are appended (generated clips have no dialog)."""
  spec = ContextSpec.from_config(input_cfg)
  if spec is None:
    return dict(raw)
  return {split: DialogContextSource(source, spec, f"dialog context {split}", show) for split, source in raw.items()}
