"""What every dataset module states about itself, in one typed record (`Dataset`)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A dataset as the rest of mmer_jax sees it, before anything is built.

  `name` is the one spelling everywhere (the TFDS builder's name, the first part of
  `config.input.tfds_name`); `configs` are its builder configs (`<name>/<config>`); `modalities` the
  kinds of input its examples can carry; `manual_download` whether a build reads files the user
  fetched (`--manual_dir`) rather than generating them.
  """
  name: str
  configs: tuple[str, ...]
  modalities: tuple[str, ...]
  manual_download: bool
