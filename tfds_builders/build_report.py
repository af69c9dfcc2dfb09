"""The build report every builder writes next to its data: counts, skips and their reasons."""

from __future__ import annotations

import collections
import dataclasses
import json
from pathlib import Path
from typing import Any


@dataclasses.dataclass
class BuildReport:
  """Collects what a build kept, skipped (with why) and degraded (partial modalities, fallbacks)."""

  dataset: str
  config: str
  counts: dict[str, collections.Counter] = dataclasses.field(
      default_factory=lambda: collections.defaultdict(collections.Counter))
  skipped: list[dict[str, str]] = dataclasses.field(default_factory=list)
  partial: list[dict[str, str]] = dataclasses.field(default_factory=list)
  options: dict[str, Any] = dataclasses.field(default_factory=dict)

  def count(self, group: str, key: str, n: int = 1) -> None:
    self.counts[group][str(key)] += n

  def skip(self, example_id: str, reason: str, split: str = "") -> None:
    self.skipped.append({"id": example_id, "split": split, "reason": reason})

  def degrade(self, example_id: str, reason: str, split: str = "") -> None:
    self.partial.append({"id": example_id, "split": split, "reason": reason})

  def to_dict(self) -> dict[str, Any]:
    by_reason = collections.Counter(s["reason"].split(":")[0] for s in self.skipped)
    partial_by_reason = collections.Counter(s["reason"].split(":")[0] for s in self.partial)
    return {
        "dataset": self.dataset, "config": self.config, "options": self.options,
        "counts": {g: dict(sorted(c.items())) for g, c in sorted(self.counts.items())},
        "num_skipped": len(self.skipped), "skipped_by_reason": dict(by_reason),
        "num_partial": len(self.partial), "partial_by_reason": dict(partial_by_reason),
        "skipped": self.skipped, "partial": self.partial,
    }

  def write(self, directory: str | Path) -> Path:
    path = Path(directory) / "build_report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(self.to_dict(), indent=1, default=str))
    return path

  def summary(self) -> str:
    d = self.to_dict()
    lines = [f"{self.dataset}/{self.config}: skipped {d['num_skipped']}, partial {d['num_partial']}"]
    for group, counts in d["counts"].items():
      lines.append(f"  {group}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    for reason, n in d["skipped_by_reason"].items():
      lines.append(f"  skipped[{reason}] = {n}")
    for reason, n in d["partial_by_reason"].items():
      lines.append(f"  partial[{reason}] = {n}")
    return "\n".join(lines)
