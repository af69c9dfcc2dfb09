"""Examples generated through Apache Beam, with a build report that does not depend on the workers.

A builder plans its build in the driver (parses the release, records release-level report entries)
and cuts each split into *units* of work: an IEMOCAP dialog, a chunk of SAMSEMO scenes, a CMU-MOSEI
video or clip. A `UnitWorker` turns one unit into (key, example) pairs. Workers call the same
`count`/`skip`/`degrade` methods as `BuildReport`, but on a per-unit recorder whose entries leave
through a side output. After the pipeline the driver replays them sorted by unit index, so
`build_report.json` is the same whatever the number of workers or the order they finish in, and
equal to a sequential build's.

Heavy resources (face detector, text encoder) are loaded in `UnitWorker.setup`, which Beam calls once
per DoFn instance, i.e. once per worker process, not per example.

Without Beam options (`use_beam=False`) the same worker runs over the units in the calling process,
as a plain generator: building a Beam graph costs ~2 s per split, which dominates small builds and
the tests. Both paths compute the same examples and report entries from the same `UnitWorker`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from typing import Any, Callable, Iterable, Iterator, Sequence

# Importing Beam logs a root-level warning about optional Google Cloud clients (apitools, BigQuery)
# that local builds never use; keep it out of every build's output.
_root_level = logging.getLogger().level
logging.getLogger().setLevel(logging.ERROR)
try:
  import apache_beam as beam
  from apache_beam.io.filesystems import FileSystems
finally:
  logging.getLogger().setLevel(_root_level)

REPORT_TAG = "report"
PARTS_FOLDER = "report_parts"


class ReportEvents:
  """Records the report calls of one unit, in order, for replay into the real report."""

  def __init__(self):
    self.events: list[list[Any]] = []

  def count(self, group: str, key: str, n: int = 1) -> None:
    self.events.append(["count", group, str(key), int(n)])

  def skip(self, example_id: str, reason: str, split: str = "") -> None:
    self.events.append(["skip", example_id, reason, split])

  def degrade(self, example_id: str, reason: str, split: str = "") -> None:
    self.events.append(["degrade", example_id, reason, split])

  def replay(self, report) -> None:
    for method, *args in self.events:
      getattr(report, method)(*args)


class EmptySplitError(ValueError):
  """A split whose units gave no example (TFDS cannot write an empty split)."""

  def __init__(self, split: str):
    super().__init__(f"split {split!r} has no example")
    self.split = split


class UnitWorker:
  """Turns a unit into examples; subclasses load their heavy resources in `setup`."""

  def setup(self) -> None:
    pass

  def __call__(self, unit: Any, events: ReportEvents) -> Iterable[tuple[str, dict[str, Any]]]:
    raise NotImplementedError


class _UnitsDoFn(beam.DoFn):

  def __init__(self, worker: UnitWorker):
    self._worker = worker

  def setup(self):
    self._worker.setup()

  def process(self, indexed_unit):
    index, unit = indexed_unit
    events = ReportEvents()
    yielded = 0
    for key, example in self._worker(unit, events):
      yielded += 1
      yield key, example
    yield beam.pvalue.TaggedOutput(REPORT_TAG, (index, events.events, yielded))


def _part_path(parts_dir: str, split: str) -> str:
  return FileSystems.join(parts_dir, f"{split}.json")


def _write_part(entries: list, path: str) -> None:
  with FileSystems.create(path) as f:
    f.write(json.dumps(sorted(entries, key=lambda e: e[0])).encode())


def examples_transform(split: str, units: Sequence[Any], worker: UnitWorker, parts_dir: str):
  """The PTransform TFDS applies for one split: units -> (key, example), report entries -> a file."""
  path = _part_path(parts_dir, split)
  indexed = list(enumerate(units))

  @beam.ptransform_fn
  def _generate(root):
    # Create reshuffles its elements, so units spread over the workers.
    out = (root
           | "Units" >> beam.Create(indexed)
           | "Examples" >> beam.ParDo(_UnitsDoFn(worker)).with_outputs(REPORT_TAG, main="examples"))
    _ = (out[REPORT_TAG]
         | "CollectReport" >> beam.combiners.ToList()
         | "WriteReport" >> beam.Map(_write_part, path))
    return out.examples

  return _generate()  # pylint: disable=no-value-for-parameter


def _sequential(split: str, units: Sequence[Any], worker: UnitWorker, path: str):
  if not getattr(worker, "_set_up", False):  # one worker serves every split of an in-process build
    worker.setup()
    worker._set_up = True
  entries = []
  for index, unit in enumerate(units):
    events = ReportEvents()
    yielded = 0
    for key, example in worker(unit, events):
      yielded += 1
      yield key, example
    entries.append((index, events.events, yielded))
  _write_part(entries, path)
  if not sum(e[2] for e in entries):
    raise EmptySplitError(split)


def generate(split: str, units: Sequence[Any], worker: UnitWorker, parts_dir: str, use_beam: bool):
  """What a builder's `_generate_examples` returns: a Beam transform, or a generator in this process."""
  if use_beam:
    return examples_transform(split, units, worker, parts_dir)
  return _sequential(split, units, worker, _part_path(parts_dir, split))


def uses_beam(download_config) -> bool:
  """Whether the build was given a Beam runner or pipeline options (then it runs as a Beam pipeline)."""
  return bool(download_config is not None and (download_config.beam_options or download_config.beam_runner))


def parts_dir_of(data_dir: str) -> str:
  """Where the workers leave each split's report entries (inside TFDS's temporary build folder)."""
  return FileSystems.join(str(data_dir), PARTS_FOLDER)


def replay_parts(report, parts_dir: str, splits: Sequence[str],
                 heads: dict[str, ReportEvents] | None = None) -> dict[str, int]:
  """Replays each split's entries (driver-side `heads` first, then units in order) into `report`;
  returns the number of examples per split and removes the parts folder."""
  yielded = {}
  for split in splits:
    if heads and split in heads:
      heads[split].replay(report)
    with FileSystems.open(_part_path(parts_dir, split)) as f:
      entries = json.loads(f.read().decode())
    yielded[split] = 0
    for _, events, count in entries:
      for method, *args in events:
        getattr(report, method)(*args)
      yielded[split] += count
  FileSystems.delete([parts_dir])
  return yielded


def pipeline_options(spec: str | None):
  """`runner=DirectRunner,direct_num_workers=2,...` (the `tfds build` syntax) as PipelineOptions;
  None (no Beam: the builders run their workers in this process) for an empty spec."""
  from apache_beam.options.pipeline_options import PipelineOptions
  if not spec:
    return None
  flags = [f"--{item.strip()}" for item in spec.split(",") if item.strip()]
  bad = [f for f in flags if "=" not in f]
  if bad:
    raise ValueError(f"--beam_pipeline_options items must look like key=value, got {bad}.")
  return PipelineOptions(flags)


_EMPTY_SPLIT = re.compile(r"generated examples is 0 for split (\S+?)\. ")


def empty_split_in(error: BaseException) -> str | None:
  """The split that had no example to write (ours, or the TFDS Beam writer's message), if any."""
  if isinstance(error, EmptySplitError):
    return error.split
  match = _EMPTY_SPLIT.search(str(error))
  return match.group(1) if match else None


@contextlib.contextmanager
def empty_split_explained(error: Callable[[str], Exception]) -> Iterator[None]:
  """Around a builder's generation: TFDS cannot write an empty split and says so only barely, so an
  empty split raises `error(split)` instead, a message saying why the builder skipped everything."""
  try:
    yield
  except Exception as e:
    empty = empty_split_in(e)
    if empty is None:
      raise
    raise error(empty) from e
