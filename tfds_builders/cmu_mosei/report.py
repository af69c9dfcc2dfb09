"""The shared build report plus the CMU-MOSEI extras: input files, fold source, example counts.

Counting conventions used by this builder:
  * `skip(id, reason)` per dropped segment (`vid[i]` or `<vid>_<clip>`), so `skipped_by_reason`
    counts segments; the modality is part of the reason (`video_missing_in_facet`);
  * `degrade(id, reason)` per kept-but-repaired segment (zero imputation, zeroed NaN/inf);
  * `count(group, key)` for everything else (videos, rows, non-finite values, media fallbacks).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tfds_builders.build_report import BuildReport


@dataclasses.dataclass
class MoseiReport(BuildReport):
  meta: dict[str, Any] = dataclasses.field(default_factory=dict)

  def get(self, group: str, key: str) -> int:
    return self.counts.get(group, {}).get(key, 0)

  def to_dict(self) -> dict[str, Any]:
    out = super().to_dict()
    return {**{k: out[k] for k in ("dataset", "config", "options")}, **self.meta,
            **{k: v for k, v in out.items() if k not in ("dataset", "config", "options")}}
