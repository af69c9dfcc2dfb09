"""Process-level set-up: multi-host initialisation, compilation cache, cross-host string gathering."""

from __future__ import annotations

import logging
import os

import jax
import numpy as np
from ml_collections import ConfigDict

log = logging.getLogger(__name__)

_DISTRIBUTED_READY = False


def setup_runtime(config: ConfigDict) -> None:
  """Calls `jax.distributed.initialize` once when `config.distributed` asks (multi-host runs).

  On TPU pods and SLURM/GPU clusters the coordinator is discovered from the environment; otherwise set
  `config.coordinator_address`, `config.num_processes`, `config.process_id`.
  """
  global _DISTRIBUTED_READY
  if config.get("distributed", False) and not _DISTRIBUTED_READY:
    kwargs = {k: config[k] for k in ("coordinator_address", "num_processes", "process_id")
              if config.get(k, None) is not None}
    jax.distributed.initialize(**kwargs)
    _DISTRIBUTED_READY = True
    log.info("jax.distributed: process %d of %d, %d devices in all.",
                 jax.process_index(), jax.process_count(), jax.device_count())
  cache = config.get("compilation_cache_dir", None) or os.environ.get("MMER_JAX_COMPILATION_CACHE")
  if cache:
    jax.config.update("jax_compilation_cache_dir", os.path.expanduser(cache))


def gather_strings(values: np.ndarray) -> np.ndarray:
  """All hosts' string metadata, in process order (encoded as padded UTF-8 bytes for the collective)."""
  values = np.asarray(values).astype(str)
  if jax.process_count() == 1:
    return values
  from jax.experimental import multihost_utils  # noqa: PLC0415
  encoded = [v.encode("utf-8") for v in values]
  width = int(multihost_utils.process_allgather(np.asarray(max(map(len, encoded), default=1))).max())
  table = np.zeros((len(encoded), width), np.uint8)
  for i, e in enumerate(encoded):
    table[i, :len(e)] = np.frombuffer(e, np.uint8)
  gathered = np.asarray(multihost_utils.process_allgather(table, tiled=True))
  return np.asarray([bytes(row).rstrip(b"\0").decode("utf-8") for row in gathered])
