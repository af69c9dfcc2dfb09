"""Writes a miniature CMU-MOSEI release: SDK `.csd` files and, optionally, the raw release.

The files follow the original layouts exactly (shared spec §2.1 and §6), with synthetic values:
  * one root group per .csd, `data/<vid>/{features, intervals}` (gzip level 9, as the SDK's
    deploy()), `metadata/<key>` as (1,) vlen strings holding JSON strings;
  * words (bytes, with b'sp' silences), GloVe 300-d (zeros for 'sp'), COVAREP 74-d at 100 Hz,
    FACET 35-d and OpenFace 713-d at ~30 Hz (different phases), labels (n, 7) in multiples of 1/3;
  * video ids in the real formats: 11-character YouTube ids (one starting with '-', one with '_',
    one containing '__') and a numeric id;
  * label rows ordered by clip number sorted AS STRINGS (clips {2,3,4,9,10,13} -> rows 10,13,2,...),
    overlapping neighbouring segments, a 0 start, a negative start and 44.1 kHz-style decimals;
  * features correlated with the segment labels, so models can learn from the fixture.
With `faults=True` some videos carry the defects the builder must count (see FAULTS). The
returned manifest describes everything the tests need to know.

Usage: python -m tfds_builders.cmu_mosei.dummy_data.generate OUT_DIR [--videos N] [--raw] [--no_faults]
"""

from __future__ import annotations

import argparse
import json
import os
import string
from typing import Any

import h5py
import numpy as np

from mmer_jax.datasets import cmu_mosei

GLOVE_DIM = cmu_mosei.FEATURE_DIMS["glove"]
COVAREP_HZ, FACET_HZ, OPENFACE_HZ = 100.0, 30.0, 29.97
_VOCAB = ["i", "really", "love", "this", "movie", "hate", "the", "ending", "was", "sad", "great", "awful",
          "scary", "wow", "okay", "so", "uh", "fine", "angry", "funny"]
# Roles of the videos of a `faults=True` fixture (index into the video list).
FAULTS = {
    "missing_in_facet": 4,       # absent from the FACET file -> whole video dropped
    "nonfinite_covarep": 5,      # NaN and +inf COVAREP frames -> NaN word averages, counted
    "length_mismatch_openface": 6,  # OpenFace features has 3 more rows than intervals -> dropped
    "corrupt_covarep_chunk": 7,  # a gzip chunk of COVAREP features overwritten -> unreadable -> dropped
}
# Videos of the default fixture that are in labels but in no fold, and a fold id without labels.
NOT_IN_FOLDS = 8


def _metadata(root: str, dim_names: list[str]) -> dict[str, Any]:
  """The SDK metadata template; 'root name' is the only key the SDK reads back."""
  return {
      "root name": root,
      "computational sequence description": f"synthetic {root} for tests",
      "dimension names": dim_names,
      "computational sequence version": "1.0",
      "alignment compatible": True,
      "dataset name": "CMU-MOSEI",
      "dataset version": "1.0",
      "creator": "mmer_jax dummy_data",
      "contact": "none",
      "featureset bib citation": "none",
      "dataset bib citation": "none",
      "uuid": "00000000-0000-0000-0000-000000000000",
      "md5": None,
  }


def write_csd(path: str, root: str, data: dict[str, tuple[np.ndarray, np.ndarray]],
              dim_names: list[str] | None = None, *, compression: str | None = "gzip") -> None:
  """Writes `data[vid] = (features, intervals)` in the SDK's exact HDF5 structure."""
  with h5py.File(path, "w") as f:
    root_group = f.create_group(root)
    data_group = root_group.create_group("data")
    opts = {"compression": compression, "compression_opts": 9} if compression == "gzip" else {}
    for vid, (features, intervals) in data.items():
      g = data_group.create_group(vid)
      g.create_dataset("features", data=features, **opts)
      g.create_dataset("intervals", data=intervals, **opts)
    meta = root_group.create_group("metadata")
    for key, value in _metadata(root, dim_names or []).items():
      ds = meta.create_dataset(key, (1,), dtype=h5py.special_dtype(vlen=str))
      ds[0] = json.dumps(value)


def make_video_ids(n: int, rng: np.random.Generator) -> list[str]:
  """Ids in the real formats: YouTube-like (incl. leading '-'/'_' and '__') and numeric."""
  alphabet = string.ascii_letters + string.digits + "-_"
  inner = string.ascii_letters + string.digits
  ids: list[str] = []
  forced = ["-", "_", "numeric", "__"]
  while len(ids) < n:
    kind = forced[len(ids)] if len(ids) < len(forced) else "plain"
    if kind == "numeric":
      vid = str(int(rng.integers(1000, 300000)))
    else:
      body = "".join(rng.choice(list(alphabet if kind == "plain" else inner), 11))
      # Real ids never end with '-' or '_'.
      body = body[:10] + rng.choice(list(inner))
      if kind in ("-", "_"):
        body = kind + body[1:]
      elif kind == "__":
        body = body[:4] + "__" + body[6:]
      vid = body
    if vid not in ids:
      ids.append(vid)
  return ids


def _quantised_labels(rng: np.random.Generator) -> np.ndarray:
  """[sentiment in -3..3, six emotions in 0..3], averages of 3 integer ratings (multiples of 1/3)."""
  sentiment = rng.integers(-3, 4, size=3).mean()
  emotions = rng.integers(0, 4, size=(6, 3)) * (rng.random((6, 1)) < 0.5)
  return np.concatenate([[sentiment], emotions.mean(axis=1)]).astype(np.float32)


def _time(x: float) -> float:
  """A 44.1 kHz sample position printed with 11 decimals, like the real transcript times."""
  return round(round(x * 44100) / 44100, 11)


def make_video(vid: str, index: int, rng: np.random.Generator, *, duration: tuple[float, float],
               words_per_segment: tuple[int, int] = (4, 10)) -> dict[str, Any]:
  """Words, label segments and per-frame features of one synthetic video."""
  total = float(rng.uniform(*duration))
  # Words with silences; one zero-length word in video 1 (the SDK skips such reference rows).
  words, word_iv = [], []
  t = 0.25
  while t < total - 0.8:
    if rng.random() < 0.2:
      gap = float(rng.uniform(0.1, 0.5))
      words.append(b"sp"); word_iv.append((t, t + gap)); t += gap
    dur = float(rng.uniform(0.15, 0.6))
    words.append(_VOCAB[int(rng.integers(len(_VOCAB)))].encode()); word_iv.append((t, t + dur)); t += dur
  if index == 1:
    k = len(words) // 2
    words.insert(k, b"uh"); word_iv.insert(k, (word_iv[k - 1][1], word_iv[k - 1][1]))
  word_iv = np.round(np.array(word_iv), 3)
  # Sentences of 4-9 words (by default); boundaries overlap neighbours by up to ~0.4 s.
  bounds, k = [], 0
  while k < len(words):
    n = int(rng.integers(*words_per_segment))
    bounds.append((k, min(k + n, len(words)))); k += n
  seg_iv = []
  for a, b in bounds:
    start = _time(word_iv[a, 0] - rng.uniform(0.0, 0.4))
    end = _time(word_iv[b - 1, 1] + rng.uniform(0.0, 0.4))
    seg_iv.append([start, end])
  if index == 0:
    seg_iv[0][0] = 0.0
  if index == 2:
    seg_iv[0][0] = -0.3125
  # Clip numbers: video 0 gets the documented {2,3,4,9,10,13} pattern (when long enough);
  # otherwise consecutive numbers with some unlabelled clips in between.
  n_seg = len(seg_iv)
  pattern = [2, 3, 4, 9, 10, 13] + list(range(14, 14 + n_seg))
  if index == 0:
    clips = pattern[:n_seg]
  else:
    clips = sorted(rng.choice(np.arange(n_seg + 3), size=n_seg, replace=False).tolist())
  labels = np.stack([_quantised_labels(rng) for _ in range(n_seg)])
  # CSD row order: clip numbers sorted as strings (spec §6.4 (c)).
  order = sorted(range(n_seg), key=lambda i: str(clips[i]))
  return {
      "vid": vid, "duration": total, "words": words, "word_intervals": word_iv,
      "clips": [clips[i] for i in order],
      "segments": np.array([seg_iv[i] for i in order], dtype=np.float64),
      "labels": labels[order],
      "unlabelled_clips": sorted(set(range(max(clips) + 2)) - set(clips)),
  }


def _label_signal(video: dict[str, Any], times: np.ndarray) -> np.ndarray:
  """(T, 7) labels of the segment active at each time (last matching row wins; 0 outside)."""
  out = np.zeros((len(times), 7), np.float32)
  for iv, lab in zip(video["segments"], video["labels"]):
    out[(times >= iv[0]) & (times < iv[1])] = lab
  return out


def _frames(video, hz, phase, dim, projection, rng):
  t = np.arange(phase, video["duration"], 1.0 / hz)
  intervals = np.stack([t, t + 1.0 / hz], axis=1)
  feats = rng.normal(0, 1, (len(t), dim)).astype(np.float32) + _label_signal(video, t) @ projection
  return feats.astype(np.float32), intervals


_DIMS = cmu_mosei.FEATURE_DIMS  # its order is the order the projections are drawn in
# (rate in Hz, phase in s) of the frame-level sequences.
_RATES = {"covarep": (COVAREP_HZ, 0.0), "facet": (FACET_HZ, 0.01), "openface": (OPENFACE_HZ, 0.0)}


class Synthesizer:
  """Per-video arrays of every sequence; features carry a fixed projection of the active labels."""

  def __init__(self, rng: np.random.Generator):
    self.rng = rng
    self.proj = {name: rng.normal(0, 0.8, (7, dim)).astype(np.float32) for name, dim in _DIMS.items()}
    self.embed = {w.encode(): rng.normal(0, 0.3, GLOVE_DIM).astype(np.float32) for w in _VOCAB}

  def arrays(self, video: dict[str, Any], modalities) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: (features, intervals)} for `modalities` plus 'words' and 'labels'."""
    wiv = video["word_intervals"]
    out = {"words": (np.array(video["words"], dtype="S")[:, None], wiv),
           "labels": (video["labels"], video["segments"])}
    if "glove" in modalities:
      speech = np.array([w != b"sp" for w in video["words"]])
      g = np.stack([self.embed[w] if w != b"sp" else np.zeros(GLOVE_DIM, np.float32) for w in video["words"]])
      g = g + (_label_signal(video, wiv.mean(axis=1)) @ self.proj["glove"]) * speech[:, None]
      out["glove"] = (g.astype(np.float32), wiv)
    for name, (hz, phase) in _RATES.items():
      if name in modalities:
        out[name] = _frames(video, hz, phase, _DIMS[name], self.proj[name], self.rng)
    return out


def generate(out_dir: str, *, num_videos: int = 10, seed: int = 0, faults: bool = True, raw: bool = False,
             duration: tuple[float, float] = (12.0, 22.0),
             modalities: tuple[str, ...] = ("glove", "covarep", "facet", "openface"),
             compression: str | None = "gzip", raw_videos: tuple[int, ...] = (0, 2, 3),
             words_per_segment: tuple[int, int] = (4, 10)) -> dict[str, Any]:
  """Writes the fixture into `out_dir` and returns its manifest."""
  if faults and num_videos <= NOT_IN_FOLDS:
    raise ValueError(f"faults=True needs num_videos > {NOT_IN_FOLDS}.")
  os.makedirs(out_dir, exist_ok=True)
  rng = np.random.default_rng(seed)
  vids = make_video_ids(num_videos, rng)
  videos = [make_video(v, i, rng, duration=duration, words_per_segment=words_per_segment) for i, v in enumerate(vids)]
  synth = Synthesizer(rng)
  data: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {
      name: {} for name in ("words", "labels", *modalities)}
  for video in videos:
    for name, arrays in synth.arrays(video, modalities).items():
      data[name][video["vid"]] = arrays
  words, labels = data["words"], data["labels"]
  glove, covarep, facet, openface = (data.get(m, {}) for m in ("glove", "covarep", "facet", "openface"))

  manifest: dict[str, Any] = {"videos": videos, "video_ids": vids, "faults": {}, "dir": out_dir}
  if faults:
    bad = {role: vids[i] for role, i in FAULTS.items()}
    manifest["faults"] = bad
    del facet[bad["missing_in_facet"]]
    f, iv = covarep[bad["nonfinite_covarep"]]
    k = int(0.3 * len(f))  # inside the speech, so word averages become NaN/inf
    f = f.copy(); f[k:k + 3, 0] = np.nan; f[k + 50, 5] = np.inf
    covarep[bad["nonfinite_covarep"]] = (f, iv)
    f, iv = openface[bad["length_mismatch_openface"]]
    openface[bad["length_mismatch_openface"]] = (f, iv[:-3])
    # FACET gaps (face lost): around the whole of video 1's label row 1, so no word of that segment
    # has a FACET row; and within one word of video 9, so its segment has one FACET step too few.
    f, iv = facet[vids[1]]
    s0, e0 = labels[vids[1]][1][1]
    keep = ~((iv[:, 0] < e0 + 1.0) & (iv[:, 1] > s0 - 1.0))
    facet[vids[1]] = (f[keep], iv[keep])
    manifest["facet_gap_segment"] = f"{vids[1]}[1]"
    w = next(i for i, tok in enumerate(videos[9]["words"]) if i >= 10 and tok != b"sp")
    ws, we = videos[9]["word_intervals"][w]
    f, iv = facet[vids[9]]
    keep = ~((iv[:, 0] < we) & (iv[:, 1] > ws))
    facet[vids[9]] = (f[keep], iv[keep])
    manifest["facet_gap_word"] = (vids[9], [float(ws), float(we)])
    # A zero-length label segment in video 3 (the SDK skips it).
    seg = labels[vids[3]][1].copy(); seg[-1, 1] = seg[-1, 0]
    labels[vids[3]] = (labels[vids[3]][0], seg)
    videos[3]["segments"] = seg
    manifest["zero_length_segment"] = f"{vids[3]}[{len(seg) - 1}]"

  writers = {
      "glove": ("CMU_MOSEI_TimestampedWordVectors.csd", "glove_vectors", glove),
      "covarep": ("CMU_MOSEI_COVAREP.csd", "COVAREP", covarep),
      "facet": ("CMU_MOSEI_VisualFacet42.csd", "FACET 4.2", facet),
      "openface": ("CMU_MOSEI_VisualOpenFace2.csd", "OpenFace_2", openface),
  }
  for name, (fname, root, seqs) in writers.items():
    if name in modalities:
      write_csd(os.path.join(out_dir, fname), root, seqs, compression=compression)
  write_csd(os.path.join(out_dir, "CMU_MOSEI_TimestampedWords.csd"), "words", words, compression=compression)
  write_csd(os.path.join(out_dir, "CMU_MOSEI_Labels.csd"), "All Labels", labels,
            list(cmu_mosei.LABEL_NAMES), compression=compression)
  if faults and "covarep" in modalities:
    _corrupt_chunk(os.path.join(out_dir, "CMU_MOSEI_COVAREP.csd"), "COVAREP",
                   manifest["faults"]["corrupt_covarep_chunk"])

  manifest["folds"] = _write_folds(out_dir, vids, faults)
  manifest["mme2e_dir"] = _write_mme2e_lists(out_dir, videos, manifest["folds"])
  if raw:
    from tfds_builders.cmu_mosei.dummy_data import raw_release
    manifest["raw_videos"] = raw_release.write(out_dir, [videos[i] for i in raw_videos], rng)
    # The last raw video's wav loses its last 15% of frames (one clip cut short); the header still declares them.
    manifest["raw_faults"] = {"truncated_wav": raw_release.truncate_wav(out_dir, manifest["raw_videos"][-1], 0.85)}
  return manifest


def _corrupt_chunk(path: str, root: str, vid: str) -> None:
  """Overwrites the middle of the first gzip chunk of data/<vid>/features with garbage bytes."""
  with h5py.File(path, "r") as f:
    info = f[root]["data"][vid]["features"].id.get_chunk_info(0)
  with open(path, "r+b") as raw_file:
    raw_file.seek(info.byte_offset + info.size // 3)
    raw_file.write(b"\xff\x00garbage\x13\x37" * 4)


def _write_folds(out_dir: str, vids: list[str], faults: bool) -> dict[str, list[str]]:
  """cmu_mosei_folds.json (the builder finds it in the manual dir). With faults, videos 2/7 are
  valid and 3/9 test (so every split keeps a clean video), video 8 is labelled but in no fold,
  and 'zzzNoLabels0' is a fold id without labels (the real folds name 2 videos absent from the
  CSD). Otherwise ~80/10/10 by position."""
  if faults:
    roles = {"valid": [2, 7], "test": [3, 9]}
    taken = {i for ids in roles.values() for i in ids} | {NOT_IN_FOLDS}
    folds = {"train": [v for i, v in enumerate(vids) if i not in taken],
             "valid": [vids[i] for i in roles["valid"]], "test": [vids[i] for i in roles["test"]]}
    folds["test"].append("zzzNoLabels0")
  else:
    n_eval = max(1, len(vids) // 10)
    folds = {"train": vids[:-2 * n_eval], "valid": vids[-2 * n_eval:-n_eval], "test": vids[-n_eval:]}
  with open(os.path.join(out_dir, "cmu_mosei_folds.json"), "w") as f:
    json.dump(folds, f, indent=1)
  return folds


def _write_mme2e_lists(out_dir: str, videos: list[dict[str, Any]], folds: dict[str, list[str]]) -> str:
  """MME2E-style clip lists `<vid>_<clip>`, string-sorted, '\\n'-terminated."""
  directory = os.path.join(out_dir, "mme2e")
  os.makedirs(directory, exist_ok=True)
  by_vid = {v["vid"]: v for v in videos}
  for split, vids in folds.items():
    ids = sorted(f"{vid}_{c}" for vid in vids if vid in by_vid for c in by_vid[vid]["clips"])
    with open(os.path.join(directory, f"{split}_split.txt"), "w") as f:
      f.write("".join(i + "\n" for i in ids))
  return directory


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("out_dir")
  parser.add_argument("--videos", type=int, default=10)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--raw", action="store_true", help="also write the raw release (wav, mp4, transcripts)")
  parser.add_argument("--no_faults", action="store_true")
  args = parser.parse_args()
  manifest = generate(args.out_dir, num_videos=args.videos, seed=args.seed, faults=not args.no_faults, raw=args.raw)
  print(f"Wrote {len(manifest['video_ids'])} videos to {args.out_dir}; faults: {manifest['faults']}")


if __name__ == "__main__":
  main()
