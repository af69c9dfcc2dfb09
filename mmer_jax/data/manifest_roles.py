"""Column roles: which of the user's columns is the id, the text, the audio, ..., and the labels.

Options map roles onto the user's own column names (`text=Utterance`, `label=Emotion`); a role left
unset takes a column of the same name if there is one (case-insensitive), so a manifest with columns
`id, text, audio, video, label` needs no option at all, and `predict` reads the same layout.
`id`, `audio` and `video` may also be templates over the row's columns, e.g.
`id=dia{Dialogue_ID}_utt{Utterance_ID}`; `{split}` is the row's split.

Every mistake in the options is a one-line ConfigError naming the option, the file and the columns.
"""

from __future__ import annotations

import dataclasses
import math
import re
import string
from typing import Any, Iterable, Mapping, Sequence

from mmer_jax.data import label_schemes
from mmer_jax.errors import ConfigError, did_you_mean

ROLES = ("id", "text", "audio", "video", "start", "end", "split", "speaker", "dialog", "order")
TEMPLATE_ROLES = ("id", "audio", "video")
KINDS = ("single", "multi", "regression")
LABEL_PREFIX = label_schemes.MANIFEST_LABEL_PREFIX
# Stored feature names a metadata column must not take (it is stored as `col_<key>` instead).
RESERVED = {"id", "text", "speaker", "dialog", "order", "split", "start", "end", "duration", "text_present",
            "audio_present", "video_present", "waveform", "mel_pieces", "num_mel_pieces", "audio_stats",
            "compare_lld", "faces", "num_faces", "face_found", "text_cls", "text_pooled", "text_tokens",
            "text_tokens_mask"}


def feature_key(column: str) -> str:
  """A column name as a feature name: lower case, runs of other characters -> `_` ("Sr No." -> sr_no)."""
  key = re.sub(r"[^0-9a-z]+", "_", str(column).lower()).strip("_") or "column"
  return f"c_{key}" if key[0].isdigit() else key


@dataclasses.dataclass(frozen=True)
class LabelSpec:
  column: str
  key: str                          # stored as `label_<key>`
  kind: str                         # single | multi | regression
  classes: tuple[str, ...] | None   # the user's class order; None = sorted names found in train

  @property
  def feature(self) -> str:
    return LABEL_PREFIX + self.key


@dataclasses.dataclass(frozen=True)
class Roles:
  """Role -> column (or template) of the manifest; labels; the other columns kept as metadata."""
  columns: Mapping[str, str]
  labels: tuple[LabelSpec, ...]
  meta: tuple[tuple[str, str], ...]   # (feature key, column)

  def column(self, role: str) -> str | None:
    return self.columns.get(role)

  def value(self, role: str, values: Mapping[str, Any], split: str) -> str:
    """The role's value in a row ('' when unmapped or empty); templates are filled in."""
    column = self.columns.get(role)
    if column is None:
      return ""
    if role in TEMPLATE_ROLES and is_template(column):
      return column.format_map({**{k: cell_text(v) for k, v in values.items()}, "split": split}).strip()
    return cell_text(values.get(column)).strip()


def cell_text(value: Any) -> str:
  """A cell as a string: None / NaN -> "", a whole JSON float -> its integer spelling."""
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return ""
  if isinstance(value, float) and value.is_integer():
    return str(int(value))   # JSON 3.0 -> "3", as a CSV cell would say
  return str(value)


def is_template(value: str) -> bool:
  return "{" in value


def template_columns(template: str) -> list[str]:
  return [field for _, field, _, _ in string.Formatter().parse(template) if field]


def _listed(value: Any) -> list[str]:
  """A comma-separated string or a list/tuple (what `--option` literal parsing gives) as strings."""
  if value is None:
    return []
  if isinstance(value, (list, tuple)):
    return [str(v).strip() for v in value if str(v).strip()]
  return [v.strip() for v in str(value).split(",") if v.strip()]


def _pairs(value: Any, option: str) -> dict[str, str]:
  """`a=x,b=y` or a dict (what `--option` literal parsing gives) -> {a: x, b: y}."""
  if isinstance(value, Mapping):
    return {str(k): str(v) for k, v in value.items()}
  pairs = {}
  for item in _listed(value):
    key, eq, val = item.partition("=")
    if not eq:
      raise ConfigError(f"--option {option}={value!r}: each item must look like column=value, got {item!r}.")
    pairs[key.strip()] = val.strip()
  return pairs


def _find(name: str, columns: Sequence[str], option: str, where: str) -> str:
  if name in columns:
    return name
  folded = {c.lower(): c for c in columns}
  if name.lower() in folded:
    return folded[name.lower()]
  raise ConfigError(f"--option {option}={name!r}: {where} has no column {name!r}.{did_you_mean(name, columns)} "
                    f"Its columns: {', '.join(columns)}.")


def parse_classes(value: Any, labels: Sequence[LabelSpec]) -> dict[str, tuple[str, ...]]:
  """`classes`: "a,b,c" (or a list) for the one categorical label column, or
  "Emotion:a,b,c;Sentiment:x,y" (or a dict) per column."""
  categorical = [spec.column for spec in labels if spec.kind != "regression"]
  if value in (None, "", (), []):
    return {}
  if isinstance(value, Mapping):
    per_column = {str(k): _listed(v) for k, v in value.items()}
  elif isinstance(value, str) and ":" in value:
    per_column = {}
    for part in filter(None, (p.strip() for p in value.split(";"))):
      column, _, names = part.partition(":")
      per_column[column.strip()] = _listed(names)
  else:
    if len(categorical) != 1:
      raise ConfigError(f"--option classes={value!r} gives one class list, but the label columns {categorical} "
                        "are categorical: give one per column, e.g. classes='Emotion:a,b,c;Sentiment:x,y'.")
    per_column = {categorical[0]: _listed(value)}
  out = {}
  for column, names in per_column.items():
    match = [spec.column for spec in labels if spec.column.lower() == column.lower()]
    if not match:
      raise ConfigError(f"--option classes names column {column!r}, which is not a label column "
                        f"(label columns: {', '.join(s.column for s in labels)}).")
    if len(set(names)) != len(names) or not names:
      raise ConfigError(f"--option classes for {column!r} must list distinct class names, got {names}.")
    out[match[0]] = tuple(names)
  return out


def resolve_roles(cfg, columns: Sequence[str], where: str) -> Roles:
  """The roles of `cfg` (a ManifestConfig) checked against the manifest's `columns`."""
  mapped: dict[str, str] = {}
  folded = {c.lower(): c for c in columns}
  for role in ROLES:
    option = getattr(cfg, role) or (getattr(cfg, "group") if role == "dialog" else "")
    option = str(option).strip() if option is not None else ""
    if option.lower() == "none":
      continue
    if not option:
      default = folded.get(role) or (folded.get("group") if role == "dialog" else None)
      if default is not None:
        mapped[role] = default
      continue
    if role in TEMPLATE_ROLES and is_template(option):
      for field in template_columns(option):
        if field != "split":
          _find(field, columns, role, where)
      mapped[role] = option
    else:
      mapped[role] = _find(option, columns, role if role != "dialog" or cfg.dialog else "group", where)
  labels = _label_specs(cfg, columns, where)
  used = set(mapped.values()) | {spec.column for spec in labels}
  for role in TEMPLATE_ROLES:
    if role in mapped and is_template(mapped[role]):
      used |= set(template_columns(mapped[role]))
  meta = _meta_columns(cfg.meta, columns, used, where)
  if not any(r in mapped for r in ("text", "audio", "video")):
    raise ConfigError(f"Name the input column(s) with --option text=<column> (or audio=, video=): {where} maps "
                      f"none of text, audio, video. Its columns: {', '.join(columns)}.")
  return Roles(mapped, labels, meta)


def _label_specs(cfg, columns: Sequence[str], where: str) -> tuple[LabelSpec, ...]:
  names = _listed(cfg.label)
  if not names:
    default = {c.lower(): c for c in columns}.get("label")
    if default is None:
      raise ConfigError(f"Name the label column(s) with --option label=<column>[,<column>...]; {where} has no "
                        f"column named 'label'. Its columns: {', '.join(columns)}.")
    names = [default]
  if cfg.label_kind not in KINDS:
    raise ConfigError(f"--option label_kind={cfg.label_kind!r}; use one of {', '.join(KINDS)}.")
  found = [_find(name, columns, "label", where) for name in names]
  kinds = {}
  for column, kind in _pairs(cfg.label_kinds, "label_kinds").items():
    column = _find(column, found, "label_kinds", "the label columns")
    if kind not in KINDS:
      raise ConfigError(f"--option label_kinds: {column}={kind!r}; use one of {', '.join(KINDS)}.")
    kinds[column] = kind
  specs = [LabelSpec(column, feature_key(column), kinds.get(column, cfg.label_kind), None) for column in found]
  keys = [s.key for s in specs]
  if len(set(keys)) != len(keys):
    raise ConfigError(f"Label columns {found} give the same feature names {keys}; use distinct columns.")
  order = parse_classes(cfg.classes, specs)
  for column in order:
    if kinds.get(column, cfg.label_kind) == "regression":
      raise ConfigError(f"--option classes gives classes for {column!r}, a regression label.")
  return tuple(dataclasses.replace(s, classes=order.get(s.column)) for s in specs)


def _meta_columns(option: Any, columns: Sequence[str], used: Iterable[str], where: str) -> tuple[tuple[str, str], ...]:
  """(key, column) of the metadata columns: "*" every unmapped column, "" none, else the listed ones."""
  if option in (None, "", "none"):
    chosen: list[str] = []
  elif option == "*":
    chosen = [c for c in columns if c not in set(used)]
  else:
    chosen = [_find(name, columns, "meta", where) for name in _listed(option)]
  out, keys = [], set()
  for column in chosen:
    key = feature_key(column)
    if key in RESERVED or key.startswith(LABEL_PREFIX) or key in keys:
      key = f"col_{key}"
    if key in keys:
      raise ConfigError(f"Metadata columns of {where} collide as {key!r}; list the ones to keep with --option meta=...")
    keys.add(key)
    out.append((key, column))
  return tuple(out)


# ---- values ----------------------------------------------------------------------------------------

_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:[.,]\d*)?)$")


def seconds(value: str) -> float | None:
  """'12.5', '00:16:16,059' or '16:16.059' -> seconds; None when empty; ValueError when malformed."""
  value = value.strip()
  if not value:
    return None
  match = _CLOCK.match(value)
  if match:
    hours, minutes, secs = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(secs.replace(",", "."))
  number = float(value)
  if not math.isfinite(number):
    raise ValueError(f"{value!r} is not a finite number of seconds")
  return number


def integer(value: str) -> int:
  """'3', '3.0' -> 3; ValueError otherwise."""
  number = float(value.strip())
  if not number.is_integer():
    raise ValueError(f"{value!r} is not an integer")
  return int(number)


def natural_sorted(names: Iterable[str]) -> list[str]:
  """Sorted names; numerically when every name is a number ('2' before '10')."""
  names = sorted(set(names))
  try:
    return sorted(names, key=float)
  except ValueError:
    return names
