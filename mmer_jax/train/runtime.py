"""Process-level set-up and the few cross-host agreements a multi-host run needs.

Every host runs the same program on its own share of each batch. They must agree on:
- whether to stop (a SIGTERM reaches one host; all of them must save and exit at the same step);
- every array's shape in a step (a host picks its batch's length bucket from its own examples);
- a workdir they all see (checkpoints are written collectively: each host writes its part);
- that one of them is gone (mmer_jax/train/host_watch.py: the others stop within
  `config.distributed_timeout_s` with one line and exit status 69).
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Mapping, Optional

import jax
import numpy as np
from ml_collections import ConfigDict

from mmer_jax.errors import ConfigError, DataError
from mmer_jax.train import host_watch

log = logging.getLogger(__name__)

_DISTRIBUTED_READY = False


def setup_runtime(config: ConfigDict, workdir: Optional[str | Path] = None) -> None:
  """Calls `jax.distributed.initialize` once when `config.distributed` asks (multi-host runs), and
  starts the watch that stops this process when another one is lost (`host_watch`).

  On TPU pods and SLURM/GPU clusters the coordinator is discovered from the environment; otherwise set
  `config.coordinator_address`, `config.num_processes`, `config.process_id`.
  """
  global _DISTRIBUTED_READY
  if config.distributed and not _DISTRIBUTED_READY:
    kwargs = {k: config[k] for k in ("coordinator_address", "num_processes", "process_id") if config[k] is not None}
    if kwargs and "coordinator_address" not in kwargs:
      raise ConfigError("config.num_processes / process_id need config.coordinator_address=<host:port> "
                        "(process 0's address) outside TPU pods and SLURM.")
    timeout_s = host_watch.timeout_of(config)
    host_watch.adopt_child_role()
    jax.distributed.initialize(**kwargs, heartbeat_timeout_seconds=host_watch.service_heartbeat_s(timeout_s))
    _DISTRIBUTED_READY = True
    host_watch.watch_peers(timeout_s, workdir)
    log.info("jax.distributed: process %d of %d, %d devices in all.",
             jax.process_index(), jax.process_count(), jax.device_count())
  host_watch.note_workdir(workdir)
  cache = os.environ.get("MMER_JAX_COMPILATION_CACHE", config.compilation_cache_dir)
  if cache:
    jax.config.update("jax_compilation_cache_dir", os.path.expanduser(cache))


def is_main_process() -> bool:
  return jax.process_index() == 0


def barrier(name: str, timeout_s: float = 3600.0) -> None:
  """All processes wait here for each other. Through the coordination service, not a device
  collective: one process may be busy for minutes (building the sample dataset), far past the
  collectives' 30 s start-up deadline."""
  if jax.process_count() > 1:
    from jax._src import distributed  # noqa: PLC0415  (the coordination client; no public barrier API)
    distributed.global_state.client.wait_at_barrier(name, int(timeout_s * 1000))


def any_process(flag: bool) -> bool:
  """True on every host when `flag` is true on any host (one tiny all-gather)."""
  if jax.process_count() == 1:
    return bool(flag)
  from jax.experimental import multihost_utils  # noqa: PLC0415
  return bool(np.asarray(multihost_utils.process_allgather(np.int32(bool(flag)))).max())


def agree_shapes(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Pads each array with zeros to the largest shape any host has for it.

  Hosts bucket their own share of a batch (a short-utterance share gets a short bucket); padded
  positions are masked out, so padding a share further changes nothing but the shape.
  """
  batch = dict(batch)
  if jax.process_count() == 1:
    return batch
  from jax.experimental import multihost_utils  # noqa: PLC0415
  keys = sorted(batch)
  rank = max(np.ndim(batch[k]) for k in keys)
  shapes = np.zeros((len(keys), rank), np.int32)
  for i, k in enumerate(keys):
    shapes[i, :np.ndim(batch[k])] = np.shape(batch[k])
  largest = np.asarray(multihost_utils.process_allgather(shapes)).max(axis=0)
  for i, k in enumerate(keys):
    value = np.asarray(batch[k])
    target = tuple(int(n) for n in largest[i, :value.ndim])
    if target != value.shape:
      padded = np.zeros(target, value.dtype)
      padded[tuple(slice(0, n) for n in value.shape)] = value
      batch[k] = padded
  return batch


def check_shared_workdir(workdir: Path) -> None:
  """Fails fast, on every host, when the hosts do not see one workdir (checkpoints need it)."""
  if jax.process_count() == 1:
    return
  from jax.experimental import multihost_utils  # noqa: PLC0415
  token = int(multihost_utils.broadcast_one_to_all(np.int64(uuid.uuid4().int % (2**62))))
  marker = workdir / f".shared_check_{token}"
  if is_main_process():
    workdir.mkdir(parents=True, exist_ok=True)
    marker.write_text("this file shows every host sees the same workdir\n")
  barrier("mmer_jax_shared_workdir_written")
  seen = marker.exists()
  everyone = not any_process(not seen)
  barrier("mmer_jax_shared_workdir_checked")
  if is_main_process():
    marker.unlink(missing_ok=True)
  if not everyone:
    raise DataError(f"--workdir={workdir} is not shared: process 0 wrote a file there that "
                    f"{'this' if not seen else 'another'} process cannot see. A multi-host run needs one "
                    f"workdir on a filesystem every host mounts (NFS, Lustre, GCS FUSE); see README "
                    f"'Multi-host runs'.")


def gather_strings(values: np.ndarray) -> np.ndarray:
  """All hosts' string metadata, in process order (encoded as padded UTF-8 bytes for the collective)."""
  values = np.asarray(values).astype(str)
  if jax.process_count() == 1:
    return values
  from jax.experimental import multihost_utils  # noqa: PLC0415
  encoded = [v.encode("utf-8") for v in values]
  width = int(np.asarray(multihost_utils.process_allgather(np.asarray(max(map(len, encoded), default=1)))).max())
  table = np.zeros((len(encoded), width), np.uint8)
  for i, e in enumerate(encoded):
    table[i, :len(e)] = np.frombuffer(e, np.uint8)
  gathered = np.asarray(multihost_utils.process_allgather(table, tiled=True))
  return np.asarray([bytes(row).rstrip(b"\0").decode("utf-8") for row in gathered])


def gather_host_arrays(value: np.ndarray) -> np.ndarray:
  """Host-local rows of every host, concatenated in process order."""
  if jax.process_count() == 1:
    return np.asarray(value)
  from jax.experimental import multihost_utils  # noqa: PLC0415
  return np.asarray(multihost_utils.process_allgather(np.asarray(value), tiled=True))
