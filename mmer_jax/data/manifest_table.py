"""Reading a user's manifest files as they are: CSV/TSV or JSON Lines, one file or one per split.

Nothing is renamed or rewritten: the builder maps the user's column names onto roles (manifest_roles.py).
Encodings are detected per file, because annotation files saved by spreadsheet programs are often
Windows-1252 (MELD-style curly quotes as byte 0x92) rather than UTF-8: a BOM decides UTF-16 / UTF-8,
else strict UTF-8, else Windows-1252, else Latin-1 (which decodes any byte). The encoding used is
recorded in the build report, so a file that was not UTF-8 is visible.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from pathlib import Path
from typing import Any

from mmer_jax.errors import ConfigError, DataError

# Split names the builder writes, and the spellings of them it recognises (in file names and in a
# split column). Other split values are kept as split names of their own.
SPLITS = ("train", "validation", "test")
SPLIT_SYNONYMS = {"train": "train", "training": "train", "dev": "validation", "val": "validation",
                  "valid": "validation", "validation": "validation", "test": "test", "testing": "test"}
SUFFIXES = (".csv", ".tsv", ".jsonl")
ENCODINGS_TRIED = ("utf-8", "cp1252", "latin-1")


@dataclasses.dataclass(frozen=True)
class Row:
  """One manifest row: its values by column and where it came from (for messages and default ids)."""
  values: dict[str, Any]
  file: str          # the manifest file's name
  line: int          # line number in that file (the header is line 1 of a CSV)
  position: int      # 0-based index among the file's rows (the default `order`)


@dataclasses.dataclass(frozen=True)
class Table:
  path: Path
  columns: tuple[str, ...]
  rows: tuple[Row, ...]
  encoding: str
  split: str | None                # the split this file holds, when there is one file per split
  malformed: tuple[tuple[int, str], ...] = ()   # (line, why) of rows that could not be parsed


def split_name(value: str) -> str:
  """A split value as the builder names it: synonyms -> train/validation/test, else the value as
  a TFDS split name (letters, digits, underscores)."""
  key = str(value).strip().lower()
  return SPLIT_SYNONYMS.get(key, re.sub(r"\W+", "_", key).strip("_"))


def decode(raw: bytes, encoding: str = "auto") -> tuple[str, str]:
  """(text, encoding used). `auto`: BOM, else UTF-8, else Windows-1252, else Latin-1."""
  if encoding != "auto":
    try:
      return raw.decode(encoding), encoding
    except (UnicodeDecodeError, LookupError) as e:
      raise DataError(f"Cannot decode the manifest as {encoding}: {e}. Use --option encoding=auto.") from e
  if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
    return raw.decode("utf-16"), "utf-16"
  if raw[:3] == b"\xef\xbb\xbf":
    return raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
  for name in ENCODINGS_TRIED:
    try:
      return raw.decode(name), name
    except UnicodeDecodeError:
      continue
  raise AssertionError("latin-1 decodes every byte")


def read_table(path: Path, encoding: str = "auto", split: str | None = None) -> Table:
  """Reads one manifest file; rows that cannot be parsed are listed in `malformed`, not fatal."""
  if not path.is_file():
    raise DataError(f"Manifest file {path} does not exist.")
  text, used = decode(path.read_bytes(), encoding)
  if path.suffix.lower() == ".jsonl":
    return _read_jsonl(path, text, used, split)
  return _read_csv(path, text, used, split, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")


def _read_csv(path: Path, text: str, encoding: str, split: str | None, delimiter: str) -> Table:
  reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
  header = next(reader, None)
  if not header or not any(h.strip() for h in header):
    raise DataError(f"{path} has no header row; its first line must name the columns.")
  columns = tuple(h.strip() for h in header)
  duplicated = sorted({c for c in columns if columns.count(c) > 1})
  if duplicated:
    raise DataError(f"{path} names column(s) {duplicated} twice; column names must be unique.")
  rows, malformed = [], []
  for cells in reader:
    line = reader.line_num
    if not any(cell.strip() for cell in cells):
      continue  # blank line
    if len(cells) != len(columns):
      malformed.append((line, f"{len(cells)} fields where the header has {len(columns)}"))
      continue
    rows.append(Row(dict(zip(columns, cells)), path.name, line, len(rows)))
  return Table(path, columns, tuple(rows), encoding, split, tuple(malformed))


def _read_jsonl(path: Path, text: str, encoding: str, split: str | None) -> Table:
  columns: dict[str, None] = {}
  rows, malformed = [], []
  for line, raw in enumerate(text.splitlines(), start=1):
    if not raw.strip():
      continue
    try:
      record = json.loads(raw)
    except json.JSONDecodeError as e:
      malformed.append((line, f"not JSON: {e.msg}"))
      continue
    if not isinstance(record, dict):
      malformed.append((line, f"a JSON {type(record).__name__}, not an object"))
      continue
    columns.update(dict.fromkeys(record))
    rows.append(Row(record, path.name, line, len(rows)))
  if not rows:
    raise DataError(f"{path} holds no JSON object per line.")
  return Table(path, tuple(columns), tuple(rows), encoding, split, tuple(malformed))


def _candidates(manual_dir: Path) -> list[Path]:
  return sorted(p for p in manual_dir.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)


def _split_of_file(path: Path) -> str | None:
  """The split a file name starts with (`train_sent_emo.csv` -> train, `dev.jsonl` -> validation)."""
  first = re.split(r"[_\-. ]", path.stem.lower(), maxsplit=1)[0]
  return SPLIT_SYNONYMS.get(first)


def manifest_files(manual_dir: Path, spec: str) -> dict[str | None, Path]:
  """{split or None: file}. `spec`: "" (find them), "file.csv" (one file), or
  "train=a.csv,validation=b.csv,test=c.csv" (one per split); paths relative to manual_dir."""
  if not manual_dir.is_dir():
    raise DataError(f"manual_dir {manual_dir} does not exist: point --manual_dir at the folder holding the manifest.")
  spec = (spec or "").strip()
  if spec and "=" not in spec:
    return {None: _resolve(manual_dir, spec)}
  if spec:
    files: dict[str | None, Path] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
      split, _, name = part.partition("=")
      if not name:
        raise ConfigError(f"--option manifest={spec!r}: each item must look like split=file, got {part!r}.")
      files[split_name(split)] = _resolve(manual_dir, name.strip())
    return files
  found = _candidates(manual_dir)
  if len(found) == 1:
    return {None: found[0]}
  by_split = {}
  for path in found:
    split = _split_of_file(path)
    if split is not None and split not in by_split:
      by_split[split] = path
  if found and len(by_split) == len(found):
    return by_split
  names = ", ".join(p.name for p in found) or "none"
  raise ConfigError(f"Cannot tell which file in {manual_dir} is the manifest (found: {names}). Name it with "
                    "--option manifest=<file> or, one per split, --option manifest=train=a.csv,validation=b.csv,test=c.csv.")


def _resolve(manual_dir: Path, name: str) -> Path:
  path = Path(name).expanduser()
  path = path if path.is_absolute() else manual_dir / path
  if not path.is_file():
    raise DataError(f"Manifest file {path} does not exist (--option manifest names it relative to --manual_dir).")
  return path
