"""The driver's half of a manifest build: read the files, check every row, split, order the classes.

Everything that needs no media is decided here, before any worker starts, so the checks are the
same whatever the number of Beam workers: a row is skipped (with its reason in the build report)
when it is malformed, has no input, an empty / unknown label, a value that is not a number where
one is needed, an id seen before, or a dialog/group that another split already holds. Workers then
only compute media and text features (manifest_dataset_builder._RowWorker).

Scope of ids and groups: with one file per split, ids and dialog ids only need to be unique within
their file (MELD numbers its dialogues from 0 in every split); with a split column or computed
splits they are unique across the manifest, and a group found in two splits is a leak.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from pathlib import Path
from typing import Any

from mmer_jax.errors import ConfigError, DataError
from tfds_builders.build_report import BuildReport
from tfds_builders.common import beam_units
from tfds_builders.manifest import media as media_lib
from mmer_jax.data import manifest_roles as roles_lib
from tfds_builders.manifest import splitting
from mmer_jax.data import manifest_table as table_lib

CHUNK = 32            # rows per unit of work: a unit's texts are encoded as one batch
SPLIT_BY = ("dialog", "speaker", "row")
SCOPES = ("auto", "split", "global")
GROUP_LEAK = ("skip", "keep")
_EXPECTED = {"order": "an integer", "start": "a time (seconds or HH:MM:SS,mmm)",
             "end": "a time (seconds or HH:MM:SS,mmm)"}


@dataclasses.dataclass(frozen=True)
class PlannedRow:
  """One row that passed the driver's checks, with everything its worker needs (small, picklable)."""
  id: str
  split: str
  text: str
  speaker: str
  dialog: str
  order: int
  labels: tuple[tuple[str, Any], ...]      # (feature, int class | tuple of 0/1 | float)
  meta: tuple[tuple[str, str], ...]
  media: media_lib.RowMedia


@dataclasses.dataclass
class Plan:
  roles: roles_lib.Roles
  labels: tuple[roles_lib.LabelSpec, ...]   # with their final class order
  splits: dict[str, list[PlannedRow]]
  heads: dict[str, beam_units.ReportEvents]  # per-split driver entries, replayed before the units'
  splits_from: str                           # files | column | computed
  scope: str                                 # split | global
  has: dict[str, bool]                       # which of text / audio / video the manifest maps

  def units(self, split: str) -> list[tuple[str, list[PlannedRow]]]:
    rows = self.splits[split]
    return [(split, rows[i:i + CHUNK]) for i in range(0, len(rows), CHUNK)]


@dataclasses.dataclass
class _Candidate:
  row: table_lib.Row
  table: table_lib.Table
  split: str
  id: str
  group: str
  labels: dict[str, Any]          # column -> raw value
  planned: dict[str, Any]         # the PlannedRow fields known so far


def read_tables(manual_dir: Path, cfg, report: BuildReport) -> list[table_lib.Table]:
  if manual_dir is None:
    raise DataError("Point --manual_dir at the folder holding the manifest (and the media it names).")
  files = table_lib.manifest_files(Path(manual_dir), cfg.manifest)
  tables = []
  for split, path in files.items():
    table = table_lib.read_table(path, cfg.encoding, split)
    report.count(f"manifest/{path.name}", f"encoding={table.encoding}")
    report.count(f"manifest/{path.name}", "rows", len(table.rows))
    for line, why in table.malformed:
      report.skip(f"{path.stem}:{line}", f"malformed_row: {why}", split or "")
    tables.append(table)
  columns = tables[0].columns
  for table in tables[1:]:
    missing = [c for c in columns if c not in table.columns]
    if missing:
      raise DataError(f"{table.path.name} lacks column(s) {missing} that {tables[0].path.name} has; the files "
                      "of one manifest need the same columns.")
  return tables


def plan(manual_dir: Path, cfg, report: BuildReport) -> Plan:
  """Reads and checks the manifest; raises ConfigError / DataError (one line) for option mistakes."""
  _check_options(cfg)
  tables = read_tables(manual_dir, cfg, report)
  names = ", ".join(t.path.name for t in tables)
  roles = roles_lib.resolve_roles(cfg, tables[0].columns, f"the manifest ({names})")
  from_files = tables[0].split is not None
  if from_files and roles.column("split"):
    raise ConfigError(f"The manifest has one file per split and a split column ({roles.column('split')}); "
                      "use one of them (--option split=none ignores the column).")
  splits_from = "files" if from_files else "column" if roles.column("split") else "computed"
  scope = cfg.scope if cfg.scope != "auto" else ("split" if from_files else "global")
  report.options["resolved"] = {"files": names, "roles": dict(roles.columns), "splits_from": splits_from,
                                "scope": scope, "labels": [dataclasses.asdict(s) for s in roles.labels],
                                "meta": dict(roles.meta)}
  candidates = _candidates(tables, roles, cfg, report)
  if splits_from == "computed":
    _compute_splits(candidates, cfg)
  heads: dict[str, beam_units.ReportEvents] = collections.defaultdict(beam_units.ReportEvents)
  candidates = _drop_duplicate_ids(candidates, scope, heads)
  if roles.column("dialog") and scope == "global":
    candidates = _drop_group_leaks(candidates, cfg.group_leak, heads)
  labels = _class_orders(roles.labels, candidates, cfg.multi_separator)
  splits: dict[str, list[PlannedRow]] = {}
  for cand in candidates:
    values = _label_values(cand, labels, heads[cand.split], cfg.multi_separator)
    if values is not None:
      splits.setdefault(cand.split, []).append(PlannedRow(split=cand.split, labels=values, **cand.planned))
  ordered = [s for s in table_lib.SPLITS if s in splits] + sorted(s for s in splits if s not in table_lib.SPLITS)
  for split in sorted(set(heads) - set(ordered)):  # a split left without rows: its entries still count
    heads.pop(split).replay(report)
  if not ordered:
    raise DataError(f"No row of {names} is left to build; see the skipped rows in the report:\n{report.summary()}")
  has = {m: bool(roles.column(m)) for m in ("text", "audio", "video")}
  return Plan(roles, labels, {s: splits[s] for s in ordered}, dict(heads), splits_from, scope, has)


def _check_options(cfg) -> None:
  if cfg.split_by not in SPLIT_BY:
    raise ConfigError(f"--option split_by={cfg.split_by!r}; use one of {', '.join(SPLIT_BY)}.")
  if cfg.scope not in SCOPES:
    raise ConfigError(f"--option scope={cfg.scope!r}; use one of {', '.join(SCOPES)}.")
  if cfg.group_leak not in GROUP_LEAK:
    raise ConfigError(f"--option group_leak={cfg.group_leak!r}; use one of {', '.join(GROUP_LEAK)}.")
  splitting.check_ratios(cfg.split_ratios, table_lib.SPLITS)
  if not cfg.multi_separator:
    raise ConfigError("--option multi_separator must not be empty.")


def _candidates(tables, roles: roles_lib.Roles, cfg, report: BuildReport) -> list[_Candidate]:
  """Rows with their parsed values; rows with a value that cannot be parsed are skipped here."""
  out = []
  for table in tables:
    base = table.path.parent
    for row in table.rows:
      values = row.values
      split = table.split or (table_lib.split_name(roles.value("split", values, "")) if roles.column("split") else "")
      default_id = f"{Path(row.file).stem}:{row.line}"
      try:
        row_id = roles.value("id", values, split) or default_id
      except (KeyError, ValueError) as e:
        report.skip(default_id, f"bad_value: id template: {e}", split)
        continue
      if roles.column("split") and not split:
        report.skip(row_id, f"missing_split: empty {roles.column('split')}", "")
        continue
      def parsed(role, parse):
        value = roles.value(role, values, split)
        try:
          return parse(value)
        except ValueError:
          raise ValueError(f"{roles.column(role)}={value!r} is not {_EXPECTED[role]}") from None

      try:
        order = parsed("order", roles_lib.integer) if roles.column("order") else row.position
        start, end = parsed("start", roles_lib.seconds), parsed("end", roles_lib.seconds)
        if start is not None and end is not None and end <= start:
          raise ValueError(f"segment end {end} s is not after its start {start} s")
        if (start is not None and start < 0) or (end is not None and end <= 0):
          raise ValueError(f"segment [{start}, {end}] s has a negative time")
      except ValueError as e:
        report.skip(row_id, f"bad_value: {e}", split)
        continue
      text = roles.value("text", values, split)
      audio = media_lib.resolve_path(roles.value("audio", values, split), base)
      video = media_lib.resolve_path(roles.value("video", values, split), base)
      if not (text or audio or video):
        report.skip(row_id, "no_input: the row's text, audio and video cells are all empty", split)
        continue
      speaker = roles.value("speaker", values, split)
      dialog = roles.value("dialog", values, split)
      group = {"dialog": dialog, "speaker": speaker}.get(cfg.split_by, "") or f"\0row:{row.file}:{row.line}"
      planned = dict(id=row_id, text=text, speaker=speaker, dialog=dialog, order=order,
                     meta=tuple((key, roles_lib.cell_text(values.get(column)).strip()) for key, column in roles.meta),
                     media=media_lib.RowMedia(audio, video, start, end))
      labels = {spec.column: values.get(spec.column) for spec in roles.labels}
      out.append(_Candidate(row, table, split, row_id, group, labels, planned))
  return out


def _compute_splits(candidates: list[_Candidate], cfg) -> None:
  ratios = splitting.check_ratios(cfg.split_ratios, table_lib.SPLITS)
  assigned = splitting.assign([c.group for c in candidates], ratios, int(cfg.split_seed), table_lib.SPLITS)
  for cand, split in zip(candidates, assigned):
    cand.split = split


def _drop_duplicate_ids(candidates: list[_Candidate], scope: str, heads) -> list[_Candidate]:
  seen: dict[tuple[str, str], _Candidate] = {}
  kept = []
  for cand in candidates:
    key = (cand.split if scope == "split" else "", cand.id)
    first = seen.setdefault(key, cand)
    if first is not cand:
      heads[cand.split].skip(cand.id, f"duplicate_id: also at {first.row.file}:{first.row.line} "
                                      f"({cand.row.file}:{cand.row.line} skipped)", cand.split)
      continue
    kept.append(cand)
  return kept


def _drop_group_leaks(candidates: list[_Candidate], policy: str, heads) -> list[_Candidate]:
  """A dialog in two splits stays in the split holding most of its rows (ties: train, validation,
  test order); its rows elsewhere are skipped (policy skip) or kept and reported (policy keep)."""
  by_group: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  for cand in candidates:
    if cand.planned["dialog"]:
      by_group[cand.planned["dialog"]][cand.split] += 1
  rank = {s: i for i, s in enumerate(table_lib.SPLITS)}
  home = {g: min(c, key=lambda s: (-c[s], rank.get(s, len(rank)), s)) for g, c in by_group.items() if len(c) > 1}
  kept = []
  for cand in candidates:
    group = cand.planned["dialog"]
    if group in home and cand.split != home[group]:
      reason = f"group_in_two_splits: dialog {group!r} is also in {home[group]}"
      if policy == "skip":
        heads[cand.split].skip(cand.id, reason, cand.split)
        continue
      heads[cand.split].degrade(cand.id, reason, cand.split)
    kept.append(cand)
  return kept


def _multi_names(value: Any, separator: str) -> list[str]:
  if isinstance(value, (list, tuple)):
    return [str(v).strip() for v in value if str(v).strip()]
  text = roles_lib.cell_text(value).strip()
  return [v.strip() for v in text.split(separator) if v.strip()] if text else []


def _class_orders(specs, candidates: list[_Candidate], separator: str) -> tuple[roles_lib.LabelSpec, ...]:
  """Each categorical label's class order: the user's, else the names found in train, sorted."""
  out = []
  has_train = any(c.split == "train" for c in candidates)
  for spec in specs:
    if spec.kind == "regression" or spec.classes is not None:
      out.append(spec)
      continue
    names = set()
    for cand in candidates:
      if has_train and cand.split != "train":
        continue
      raw = cand.labels[spec.column]
      names.update(_multi_names(raw, separator) if spec.kind == "multi" else [roles_lib.cell_text(raw).strip()])
    names.discard("")
    if not names:
      raise DataError(f"Label column {spec.column!r} has no value in the training rows.")
    out.append(dataclasses.replace(spec, classes=tuple(roles_lib.natural_sorted(names))))
  return tuple(out)


def _label_values(cand: _Candidate, specs, events, separator: str) -> tuple | None:
  """(feature, value) per label column; None (the row is skipped, reason reported) if one is unusable."""
  out = []
  for spec in specs:
    raw = cand.labels[spec.column]
    if spec.kind == "regression":
      text = roles_lib.cell_text(raw).strip()
      try:
        value = float(text)
      except ValueError:
        value = math.nan
      if not text or not math.isfinite(value):
        reason = "missing_label" if not text else "bad_value"
        events.skip(cand.id, f"{reason}: {spec.column}={text!r} is not a number", cand.split)
        return None
      out.append((spec.feature, value))
      continue
    if spec.kind == "multi":
      names = _multi_names(raw, separator)
    else:
      names = [roles_lib.cell_text(raw).strip()]
      if not names[0]:
        events.skip(cand.id, f"missing_label: {spec.column} is empty", cand.split)
        return None
    unknown = [n for n in names if n not in spec.classes]
    if unknown:
      events.skip(cand.id, f"unknown_label: {spec.column}={unknown[0]!r} is not one of {list(spec.classes)}",
                  cand.split)
      return None
    if spec.kind == "multi":
      out.append((spec.feature, tuple(float(c in names) for c in spec.classes)))
    else:
      out.append((spec.feature, spec.classes.index(names[0])))
  return tuple(out)
