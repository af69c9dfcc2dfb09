"""Video extractor tests: real face detection on skimage's astronaut, crops, fallbacks, sampling."""

import os

import cv2
import numpy as np
import pytest
import skimage.data

from mmer_jax.features import video


@pytest.fixture(scope="module")
def astronaut():
  return skimage.data.astronaut()  # 512x512 RGB, one real frontal face around x 177..272, y 66..161.


@pytest.fixture(scope="module")
def detector():
  return video.HaarFaceDetector()


def test_haar_finds_the_astronaut_face_and_nothing_in_noise(astronaut, detector):
  boxes = detector.detect(astronaut)
  assert len(boxes) == 1
  x0, y0, x1, y1 = boxes[0]
  # The face centre of the astronaut image (eyes/nose) is near (225, 115).
  assert 190 < (x0 + x1) / 2 < 260 and 80 < (y0 + y1) / 2 < 150
  noise = np.random.default_rng(0).integers(0, 256, (270, 480, 3), dtype=np.uint8)
  assert detector.detect(noise) == []
  assert detector.detect(np.zeros((270, 480, 3), np.uint8)) == []


def test_make_detector_by_name(astronaut):
  assert len(video.make_detector("haar", min_neighbors=3).detect(astronaut)) >= 1
  with pytest.raises(ValueError, match="known: \\['haar'\\]"):
    video.make_detector("retinaface")
  with pytest.raises(FileNotFoundError, match="could not be loaded"):
    video.HaarFaceDetector(cascade="no_such_cascade.xml")


def test_extract_faces_marks_found_and_fallback_frames(astronaut, detector):
  # A 1280x720 frame (taller than 360 px, so SAMSEMO resizes it to 480x270) with the astronaut
  # pasted in, and a 400x300 noise frame that is kept at its size.
  hd_frame = np.zeros((720, 1280, 3), np.uint8)
  hd_frame[100:612, 400:912] = astronaut
  noise = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
  crops = video.extract_faces([hd_frame, noise], detector)
  assert crops.faces.shape == (2, 48, 48, 3) and crops.faces.dtype == np.uint8
  assert crops.face_found.tolist() == [True, False]
  assert crops.num_fallbacks == 1
  # After the resize the face is about 36 px; the crop must still be the face (skin tones: red
  # channel clearly above blue), not the black canvas or the white space suit.
  face = crops.faces[0].astype(float)
  assert face[..., 0].mean() > face[..., 2].mean() + 20
  # The fallback of a frame <= 360 px tall is its exact centre patch.
  np.testing.assert_array_equal(crops.faces[1], noise[126:174, 176:224])


def test_crop_face_applies_facenet_margin_and_clips():
  frame = np.arange(100 * 200 * 3, dtype=np.uint32).reshape(100, 200, 3).astype(np.uint8)
  # A 46-px box with margin 2: the box grows by 2*46/46 = 2 px, 1 px per side -> 48x48, no resize.
  crop = video.crop_face(frame, (10, 20, 56, 66))
  np.testing.assert_array_equal(crop, frame[19:67, 9:57])
  # A box touching the border is clipped, not wrapped around.
  clipped = video.crop_face(frame, (0, 0, 46, 46))
  np.testing.assert_array_equal(clipped, cv2.resize(frame[0:47, 0:47], (48, 48), interpolation=cv2.INTER_AREA))
  with pytest.raises(ValueError, match="outside"):
    video.crop_face(frame, (300, 300, 320, 320))


def test_samsemo_fallback_reproduces_height_offset_for_columns():
  frame = np.random.default_rng(2).integers(0, 256, (270, 480, 3), dtype=np.uint8)
  quirky = video.centre_crop_fallback(frame, kind="samsemo")
  off = (270 - 48) // 2  # 111: rows 111..158, columns 87..134 (left of the true centre 216..263).
  np.testing.assert_array_equal(quirky, frame[111:159, 87:135])
  assert off == 111
  clean = video.centre_crop_fallback(frame)
  np.testing.assert_array_equal(clean, frame[111:159, 216:264])
  # Where SAMSEMO's slice is malformed (negative column start), it is an error, not a bad crop.
  with pytest.raises(ValueError, match="fallback='centre'"):
    video.centre_crop_fallback(np.zeros((60, 80, 3), np.uint8), kind="samsemo")
  # The clean fallback pads frames smaller than the crop.
  small = np.full((20, 30, 3), 7, np.uint8)
  padded = video.centre_crop_fallback(small)
  assert padded.shape == (48, 48, 3) and padded.sum() == 7 * 20 * 30 * 3
  with pytest.raises(ValueError, match="fallback must be"):
    video.centre_crop_fallback(frame, kind="middle")


def test_normalize_faces_uses_samsemo_constants():
  faces = np.zeros((2, 48, 48, 3), np.uint8)
  faces[..., 0], faces[..., 1], faces[..., 2] = 196, 111, 70
  out = video.normalize_faces(faces)
  assert out.dtype == np.float32
  np.testing.assert_allclose(out[0, 0, 0], [1.0, 0.0, -1.0])
  with pytest.raises(ValueError, match="channel-last"):
    video.normalize_faces(np.zeros((3, 48, 48)))


def test_speaker_half_and_resize():
  frame = np.zeros((480, 720, 3), np.uint8)
  frame[:, 360:] = 255
  assert video.speaker_half(frame, "left").shape == (480, 360, 3)
  assert video.speaker_half(frame, "left").max() == 0 and video.speaker_half(frame, "right").min() == 255
  with pytest.raises(ValueError):
    video.speaker_half(frame, "middle")
  assert video.samsemo_resize(frame).shape == (270, 480, 3)
  assert video.samsemo_resize(frame[:360]).shape == (360, 720, 3)


def test_frame_files_sorted_numerically(tmp_path):
  img = np.zeros((8, 8, 3), np.uint8)
  for k in (0, 1, 2, 10):
    cv2.imwrite(str(tmp_path / f"image_{k}.jpg"), img)
  (tmp_path / "audio.wav").write_bytes(b"")
  names = [os.path.basename(p) for p in video.frame_files(tmp_path)]
  assert names == ["image_0.jpg", "image_1.jpg", "image_2.jpg", "image_10.jpg"]
  assert video.frame_files(tmp_path / "missing") == []
  (tmp_path / "image_3.jpg").write_bytes(b"not a jpeg")
  with pytest.raises(video.VideoReadError, match="image_3.jpg"):
    video.read_image_rgb(tmp_path / "image_3.jpg")
  rgb = np.zeros((8, 8, 3), np.uint8)
  rgb[..., 0] = 255  # Red in RGB must come back red (BGR is converted at the boundary).
  cv2.imwrite(str(tmp_path / "red.png"), rgb[..., ::-1])
  assert video.read_image_rgb(tmp_path / "red.png")[0, 0].tolist() == [255, 0, 0]


def test_sample_video_frames_by_interval(tmp_path):
  path = str(tmp_path / "clip.avi")
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (64, 48))
  for i in range(90):  # 3 s at 30 fps; frame i has brightness 2*i.
    writer.write(np.full((48, 64, 3), 2 * i, np.uint8))
  writer.release()
  assert video.video_fps(path) == pytest.approx(30.0)
  frames = video.sample_video_frames(path, 500, start_s=1.0, end_s=2.5)
  # Frames 30..74 every 15 frames -> 30, 45, 60.
  # (MJPG compression moves the mean brightness by at most a grey level or two.)
  np.testing.assert_allclose([f.mean() / 2 for f in frames], [30, 45, 60], atol=1.0)
  assert frames[0].shape == (48, 64, 3)
  assert len(video.sample_video_frames(path, 100, max_frames=4)) == 4
  # Without end_s the whole stream is read: frames 0, 15, ..., 75.
  np.testing.assert_allclose([f.mean() / 2 for f in video.sample_video_frames(path)], range(0, 90, 15), atol=1.0)
  with pytest.raises(video.VideoReadError, match="clip.avi"):
    video.sample_video_frames(path, 500, start_s=10.0, end_s=11.0)
  with pytest.raises(video.VideoReadError, match="nope.avi"):
    video.sample_video_frames(str(tmp_path / "nope.avi"))
