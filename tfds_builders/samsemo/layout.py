"""Reading the user's SAMSEMO release: meta.pkl, split lists, samsemo.tsv and utterance folders.

The layout is `../shared/specs/dataset_formats.md` section 3. The released code joins paths by string
concatenation (`f'{files_path}{utt}'`), so it needs trailing slashes; everything here uses pathlib.
File locations are searched in the places the Hugging Face release and the original scripts use,
and each can be overridden by a config option (relative to manual_dir, or absolute).
"""

from __future__ import annotations

import dataclasses
import math
import pickle
from pathlib import Path
from typing import Any, Sequence

# The release's facts (languages, splits, emotion order, tsv columns, folders) are SAMSEMO's own; the
# builder reads them through this module.
from mmer_jax.datasets.samsemo import (EMOTIONS, FILES_DIRS, LANGUAGES, META_DIRS, SPLIT_DIRS,  # noqa: F401
                                       SPLITS, TSV_COLUMNS, TSV_TRAITS)
from mmer_jax.errors import DataError


class ReleaseLayoutError(DataError):  # a FileNotFoundError and a UserError (build exits 2)
  """A required file of the release is missing or malformed; the message says what to do."""


def _resolve(manual_dir: Path, override: str | None) -> Path | None:
  if not override:
    return None
  path = Path(override).expanduser()
  return path if path.is_absolute() else manual_dir / path


def find_meta(manual_dir: Path, override: str | None = None, name: str = "meta.pkl") -> Path | None:
  """The meta pickle (`meta.pkl` or `meta_all_en.pkl`), or None if it is nowhere to be found."""
  explicit = _resolve(manual_dir, override)
  if explicit is not None:
    return explicit if explicit.is_file() else None
  for sub in META_DIRS:
    if (manual_dir / sub / name).is_file():
      return manual_dir / sub / name
  return None


def load_meta(path: Path) -> dict[str, Any]:
  try:
    with open(path, "rb") as f:
      meta = pickle.load(f)
  except Exception as e:
    raise ReleaseLayoutError(f"Cannot unpickle {path}: {e}. Re-download metadata/meta.pkl.") from e
  if not isinstance(meta, dict):
    raise ReleaseLayoutError(f"{path} holds a {type(meta).__name__}, expected a dict utt_id -> record.")
  return meta


def check_meta_record(record: Any) -> tuple[str, list[float]] | str:
  """(text, 5 labels) of a meta.pkl record, or a string saying why the record is unusable."""
  if not isinstance(record, dict) or "label" not in record or "text" not in record:
    return "meta record lacks 'text' or 'label'"
  label = record["label"]
  try:
    values = [float(v) for v in label]
  except TypeError:
    return f"meta label {label!r} is not a sequence"
  if len(values) != len(EMOTIONS) or any(v not in (0.0, 1.0) for v in values):
    return f"meta label {label!r} is not a {len(EMOTIONS)}-entry 0/1 vector"
  text = record["text"]
  return ("" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)), values


@dataclasses.dataclass
class SplitList:
  """Utterance ids of one split file and the irregularities found while reading it."""
  path: Path
  ids: list[str]
  missing_final_newline: bool = False  # SAMSEMO's `[:-1]` would cut the last id's final character.
  duplicates: list[str] = dataclasses.field(default_factory=list)
  blank_lines: int = 0


def split_file(manual_dir: Path, split: str, language: str, override_dir: str | None = None) -> Path | None:
  name = f"{split}_split_{language}.txt"
  explicit = _resolve(manual_dir, override_dir)
  dirs = [explicit] if explicit is not None else [manual_dir / sub for sub in SPLIT_DIRS]
  for d in dirs:
    if (d / name).is_file():
      return d / name
  return None


def read_split_file(path: Path) -> SplitList:
  raw = path.read_bytes().decode("utf-8-sig")
  result = SplitList(path=path, ids=[], missing_final_newline=bool(raw) and not raw.endswith("\n"))
  seen = set()
  for line in raw.splitlines():
    utt = line.strip()
    if not utt:
      result.blank_lines += 1
    elif utt in seen:
      result.duplicates.append(utt)
    else:
      seen.add(utt)
      result.ids.append(utt)
  return result


def find_tsv(manual_dir: Path, override: str | None = None) -> Path | None:
  if override == "none":
    return None
  explicit = _resolve(manual_dir, override)
  if explicit is not None:
    if not explicit.is_file():
      raise ReleaseLayoutError(f"tsv_path={override!r} does not exist under {manual_dir}.")
    return explicit
  for sub in ("", "metadata", "data"):
    if (manual_dir / sub / "samsemo.tsv").is_file():
      return manual_dir / sub / "samsemo.tsv"
  return None


def load_tsv(path: Path) -> tuple[dict[str, dict[str, str]], str, int]:
  """Rows of samsemo.tsv keyed by utterance id, the encoding used, and the number of duplicate ids.

  The release is UTF-16 with a BOM; a copy re-saved as UTF-8 is accepted too (the encoding is read
  from the byte-order mark). Every value is kept as a string, '' where the cell is empty.
  """
  import pandas as pd

  head = path.read_bytes()[:4]
  encoding = "utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
  try:
    table = pd.read_csv(path, sep="\t", encoding=encoding, dtype=str, keep_default_na=False,
                        na_filter=False)
  except Exception as e:
    raise ReleaseLayoutError(f"Cannot parse {path} as a tab-separated {encoding} table: {e}.") from e
  missing = [c for c in ("utterance_id", "language", *TSV_TRAITS, "duration", "translation_en")
             if c not in table.columns]
  if missing:
    raise ReleaseLayoutError(
        f"{path} lacks column(s) {missing}; expected the 32 SAMSEMO columns {list(TSV_COLUMNS)} "
        f"(UTF-16 with BOM, tab-separated). Found {list(table.columns)[:8]}...")
  rows = table.to_dict(orient="records")
  by_id = {row["utterance_id"].strip(): row for row in rows}
  return by_id, encoding, len(rows) - len(by_id)


def parse_duration(value: str) -> float:
  """'HH:MM:SS.ss' (or plain seconds) -> seconds; NaN when empty or malformed."""
  value = (value or "").strip()
  if not value:
    return math.nan
  try:
    seconds = 0.0
    for part in value.split(":"):
      seconds = seconds * 60 + float(part)
    return seconds
  except ValueError:
    return math.nan


def files_dirs(manual_dir: Path, language: str, override: str | None = None) -> list[Path]:
  """Candidate folders holding `<utt_id>/` subfolders for one language, most specific first."""
  patterns = [override] if override else list(FILES_DIRS)
  out = []
  for pattern in patterns:
    path = _resolve(manual_dir, pattern.format(LANG=language, lang=language.lower())) or manual_dir
    if path.is_dir() and path not in out:
      out.append(path)
  return out


def utterance_dir(candidates: Sequence[Path], utt_id: str) -> Path | None:
  for base in candidates:
    if (base / utt_id).is_dir():
      return base / utt_id
  return None
