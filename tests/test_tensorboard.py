"""ScalarWriter: the event file is read back record by record (TFRecord framing, masked CRC32C
checked with a CRC written here, not tensorboardX's) and its tags, steps and values compared."""

import struct

import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from mmer_jax.metrics.tensorboard import ScalarWriter, as_scalar


def _crc32c_table():
  table = []
  for byte in range(256):
    crc = byte
    for _ in range(8):
      crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # Castagnoli, reflected
    table.append(crc)
  return table


_TABLE = _crc32c_table()


def _masked_crc32c(data: bytes) -> int:
  crc = 0xFFFFFFFF
  for byte in data:
    crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  crc ^= 0xFFFFFFFF
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _read_events(path):
  """Each record: uint64 length, masked CRC of the length, the Event proto, masked CRC of it."""
  data, events, offset = path.read_bytes(), [], 0
  while offset < len(data):
    header = data[offset:offset + 8]
    (length,), (header_crc,) = struct.unpack("<Q", header), struct.unpack("<I", data[offset + 8:offset + 12])
    assert header_crc == _masked_crc32c(header)
    payload = data[offset + 12:offset + 12 + length]
    (payload_crc,) = struct.unpack("<I", data[offset + 12 + length:offset + 16 + length])
    assert payload_crc == _masked_crc32c(payload)
    events.append(event_pb2.Event.FromString(payload))
    offset += 16 + length
  return events


def _scalars(events):
  return [(e.step, v.tag, v.simple_value) for e in events if e.HasField("summary") for v in e.summary.value]


def test_crc_matches_the_published_crc32c_check_value():
  # CRC-32C("123456789") = 0xE3069283; undo the mask to compare.
  masked = _masked_crc32c(b"123456789")
  rotated = (masked - 0xA282EAD8) & 0xFFFFFFFF
  assert ((rotated << 15) | (rotated >> 17)) & 0xFFFFFFFF == 0xE3069283


def test_scalars_round_trip_and_non_numbers_are_skipped(tmp_path):
  with ScalarWriter(tmp_path) as writer:
    written = writer.write(10, {"train/loss": 0.75, "valid/f1_macro": np.float32(0.5), "epoch": 1,
                                "valid/auc_mean": float("nan"), "flops_share_of_peak": None,
                                "train/thresholds": [0.3, 0.4], "note": "text", "stopped": True,
                                "samples_per_s": float("inf"), "scale": np.array(2.5)})
    assert written == ["train/loss", "valid/f1_macro", "epoch", "scale"]
    writer.write(20, {"train/loss": 0.25, "epoch": 2})
  files = list(tmp_path.glob("events.out.tfevents.*"))
  assert len(files) == 1
  events = _read_events(files[0])
  assert events[0].file_version == "brain.Event:2"
  assert [(s, t) for s, t, _ in _scalars(events)] == [
      (10, "train/loss"), (10, "valid/f1_macro"), (10, "epoch"), (10, "scale"), (20, "train/loss"), (20, "epoch")]
  assert [v for _, _, v in _scalars(events)] == pytest.approx([0.75, 0.5, 1, 2.5, 0.25, 2])
  with pytest.raises(ValueError, match="closed"):
    writer.write(30, {"train/loss": 0.1})


def test_a_resumed_writer_in_the_same_second_keeps_the_first_file(tmp_path):
  # tensorboardX alone names both files alike (second + host) and the second truncates the first.
  for step in (1, 2):
    with ScalarWriter(tmp_path) as writer:
      writer.write(step, {"train/loss": float(step)})
  files = sorted(tmp_path.glob("events.out.tfevents.*"))
  assert len(files) == 2
  assert sorted(s for f in files for s, _, _ in _scalars(_read_events(f))) == [1, 2]


def test_disabled_writer_creates_nothing(tmp_path):
  writer = ScalarWriter(tmp_path / "tb", enabled=False)
  assert writer.write(1, {"train/loss": 1.0}) == []
  writer.close()
  assert not (tmp_path / "tb").exists()


def test_as_scalar_accepts_only_finite_real_numbers():
  assert as_scalar(3) == 3.0 and as_scalar(np.int64(4)) == 4.0 and as_scalar(np.float64(0.5)) == 0.5
  for value in (None, "1", [1.0], np.zeros(2), float("nan"), -float("inf"), False, np.bool_(True), 1 + 2j):
    assert as_scalar(value) is None, value
