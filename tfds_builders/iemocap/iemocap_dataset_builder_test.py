"""Builds the IEMOCAP fixture through `tfds_builders.build` (the README command's code path) and checks
shapes, exact parsed values, label-scheme counts and the handling of every planted fault."""

from __future__ import annotations

import collections
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmer_jax.data import label_schemes
from mmer_jax.errors import DataError
from mmer_jax.features import audio as audio_lib
from tfds_builders import build as build_cli
from tfds_builders.iemocap import release
from tfds_builders.iemocap.dummy_data import generate

VOTES = release.VOTE_CATEGORIES


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
  root = tmp_path_factory.mktemp("iemocap_manual")
  return root, generate.generate(root)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
  from transformers import BertConfig, BertTokenizerFast, FlaxBertModel
  folder = tmp_path_factory.mktemp("tiny_bert")
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "i", "hate", "this", "great", "miss", "the", "."]
  (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
  BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
  config = BertConfig(vocab_size=len(vocab), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=16, max_position_embeddings=32)
  FlaxBertModel(config, seed=0).save_pretrained(folder)
  return str(folder)


def build(fixture_root: Path, data_dir: Path, name: str, **options):
  builder = build_cli.build(f"iemocap/{name}", str(data_dir), str(fixture_root), options)
  source = builder.as_data_source()
  examples = {}
  for split in source:
    for example in source[split]:
      examples[example["id"].decode()] = (split, example)
  report = json.loads((Path(builder.data_dir) / "build_report.json").read_text())
  return builder, examples, report


@pytest.fixture(scope="module")
def full(fixture, tiny_bert, tmp_path_factory):
  root, _ = fixture
  return build(root, tmp_path_factory.mktemp("data_full"), "full",
               text_checkpoint=tiny_bert, text_max_length=16)


def partial_reasons(report: dict) -> dict[str, set[str]]:
  reasons = collections.defaultdict(set)
  for entry in report["partial"]:
    reasons[entry["id"]].add(entry["reason"].split(":")[0])
  return reasons


def test_every_feature_has_its_shape_and_dtype(full):
  builder, examples, _ = full
  assert len(examples) == 27
  assert sorted(builder.info.splits) == [f"session{s}" for s in range(1, 6)]
  for _, ex in examples.values():
    pieces, faces = ex["mel_pieces"], ex["faces"]
    assert pieces.dtype == np.float32 and pieces.shape[1:] == (128, 32)
    assert pieces.shape[0] == min(int(ex["num_mel_pieces"]), 32)
    assert ex["waveform"].dtype == np.float32 and ex["waveform"].ndim == 1
    assert ex["compare_lld"].dtype == np.float32 and ex["compare_lld"].shape[1] == 65
    assert ex["audio_stats"].shape == (276,) and ex["audio_stats"].dtype == np.float32
    assert faces.dtype == np.uint8 and faces.shape[1:] == (48, 48, 3)
    assert faces.shape[0] == min(int(ex["num_faces"]), 16) == ex["face_found"].shape[0]
    assert ex["mocap_rot"].shape == (200, 165) and ex["mocap_head"].shape == (200, 6)
    assert ex["mocap_hand"].shape == (200, 18) and ex["mocap_present"].shape == (3,)
    for name in ("mocap_rot", "mocap_head", "mocap_hand"):
      assert ex[name].dtype == np.float32 and np.isfinite(ex[name]).all()  # NaN rows became 0
    assert ex["text_cls"].shape == (8,) and ex["text_tokens"].shape == (16, 8)
    assert ex["text_tokens_mask"].dtype == np.bool_ and ex["text_tokens_mask"][0]
    assert ex["vad"].shape == (3,) and ex["votes"].shape == (len(VOTES),)
    assert len(ex["words"]) == ex["word_start"].shape[0] == ex["word_end"].shape[0]


def test_parsed_values_match_what_the_fixture_wrote(full, fixture):
  _, examples, _ = full
  _, manifest = fixture
  names = label_schemes.IEMOCAP_CODES
  # Ses01M_script01_1_M000's block is followed by the garbled turn: its votes must stay its own.
  for utt in ("Ses01F_impro01_F000", "Ses05M_script01_1b_F000", "Ses03M_impro05a_F001", "Ses01M_script01_1_M000"):
    want = manifest["utterances"][utt]
    split, ex = examples[utt]
    assert split == f"session{want['session']}" and int(ex["session"]) == want["session"]
    assert ex["dialog"].decode() == want["dialog"] and ex["gender"].decode() == want["gender"]
    assert ex["mode"].decode() == want["mode"] and names[int(ex["label"])] == want["code"]
    assert ex["text"].decode() == want["text"]
    np.testing.assert_allclose(ex["vad"], want["vad"])
    assert float(ex["start"]) == pytest.approx(want["start"], abs=1e-4)
    assert float(ex["end"]) == pytest.approx(want["end"], abs=1e-4)
    assert [w.decode() for w in ex["words"]] == want["words"]
    frames = np.asarray(want["word_frames"], np.float32)
    np.testing.assert_allclose(ex["word_start"], frames[:, 0] * 0.01, atol=1e-6)
    np.testing.assert_allclose(ex["word_end"], (frames[:, 1] + 1) * 0.01, atol=1e-6)
    expected_votes = np.zeros(len(VOTES), np.int32)
    for category in want["votes"]:
      expected_votes[VOTES.index(category)] += 1
    np.testing.assert_array_equal(ex["votes"], expected_votes)
    assert ex["self_votes"].tolist() == [int(c == want["self_vote"]) for c in VOTES]
    assert "dom  " in ex["annotations"].decode()  # evaluator lines kept verbatim
  # The mel pieces are exactly the extractor's output on the sentence wav.
  root = Path(manifest["root"])
  wav = root / "Session1" / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F000.wav"
  pieces, count = audio_lib.mme2e_mel_pieces(audio_lib.load_audio(wav), max_pieces=32)
  _, ex = examples["Ses01F_impro01_F000"]
  np.testing.assert_allclose(ex["mel_pieces"], pieces, rtol=1e-6)
  assert int(ex["num_mel_pieces"]) == count


def test_label_scheme_counts_in_data_and_report(full, fixture):
  _, examples, report = full
  _, manifest = fixture
  codes = [rec["code"] for rec in manifest["utterances"].values()]
  stored = [label_schemes.IEMOCAP_CODES[int(ex["label"])] for _, ex in examples.values()]
  assert collections.Counter(stored) == collections.Counter(codes)
  for scheme in label_schemes.SCHEMES.values():
    expected = {k: v for k, v in scheme.counts(codes).items() if v}
    assert report["counts"][f"scheme/{scheme.name}"] == expected
  assert label_schemes.get_scheme("iemocap_4class").counts(stored) == {"ang": 4, "hap": 6, "neu": 5, "sad": 4}
  assert sum(label_schemes.get_scheme("mme2e_6class").counts(stored).values()) == 21
  assert report["counts"]["session"] == {"session1": 7, "session2": 4, "session3": 6, "session4": 3,
                                         "session5": 7}


def test_planted_faults_are_reported_and_never_change_labels(full, fixture):
  _, examples, report = full
  _, manifest = fixture
  planted, utts = manifest["planted"], manifest["utterances"]
  reasons = partial_reasons(report)
  for utt, rec in utts.items():  # labels come from EmoEvaluation only
    assert label_schemes.IEMOCAP_CODES[int(examples[utt][1]["label"])] == rec["code"]
  bad_wav = examples[planted["corrupt_wav"]][1]
  assert not bad_wav["audio_present"] and int(bad_wav["num_mel_pieces"]) == 0
  assert bad_wav["waveform"].size == 0 and bad_wav["compare_lld"].shape == (0, 65)
  assert "audio_unreadable" in reasons[planted["corrupt_wav"]]
  for utt in (u for u, r in utts.items() if r["dialog"] == planted["unreadable_video"]):
    assert int(examples[utt][1]["num_faces"]) == 0 and "video_unreadable" in reasons[utt]
  for utt in (u for u, r in utts.items() if r["dialog"] == planted["missing_mocap"][0]):
    ex = examples[utt][1]
    assert ex["mocap_present"].tolist() == [True, True, False] and not ex["mocap_hand"].any()
    assert "mocap_hand_missing" in reasons[utt]
  assert len(examples[planted["missing_wdseg"]][1]["words"]) == 0
  assert "wdseg_missing" in reasons[planted["missing_wdseg"]]
  assert report["skipped"] == [{"id": planted["garbled_turn"], "split": "session1",
                                "reason": report["skipped"][0]["reason"]}]
  assert report["skipped"][0]["reason"].startswith("evaluation_turn_unreadable: Ses01M_script01_1.txt:")
  assert report["counts"]["release"]["transcript_turns_without_label"] == 8  # one XX line per dialog
  # Ses05M_script01_1b's MoCap lives under Ses05M_script01_1.
  assert examples["Ses05M_script01_1b_M000"][1]["mocap_present"].all()


def test_truncated_media_are_reported_and_partial_entries_count_turns(full, fixture):
  _, examples, report = full
  _, manifest = fixture
  planted, utts = manifest["planted"], manifest["utterances"]
  reasons = partial_reasons(report)
  cut_wav = examples[planted["truncated_wav"]][1]
  assert cut_wav["audio_present"] and cut_wav["waveform"].size > 0  # the frames that are there are used
  assert "audio_truncated" in reasons[planted["truncated_wav"]]
  cut_video = [u for u, r in utts.items() if r["dialog"] == planted["truncated_video"]]
  assert "video_truncated" in set().union(*(reasons[u] for u in cut_video))
  assert "video_truncated" not in reasons[cut_video[0]]  # the dialog's first turn is before the cut
  truncated = {u for u, r in reasons.items() if r & {"audio_truncated", "video_truncated"}}
  assert truncated <= set(cut_video) | {planted["truncated_wav"]}
  # Every partial entry names an utterance (never file:line) and each reason once per utterance.
  assert all(entry["id"] in utts for entry in report["partial"])
  keys = [(e["id"], e["reason"].split(":")[0]) for e in report["partial"]]
  assert len(keys) == len(set(keys))
  assert report["num_partial"] == len(report["partial"])


def test_faces_come_from_the_speakers_half_and_carry_the_emotion_tint(full, fixture):
  _, examples, report = full
  _, manifest = fixture
  found = report["counts"]["frames"]
  # Faces are searched in each utterance's first max_faces frames (real-length turns have more).
  searched = sum(len(example["face_found"]) for _, example in examples.values())
  assert found["face_found"] == searched > 0 and found["read"] >= searched
  redness = collections.defaultdict(list)
  for utt, rec in manifest["utterances"].items():
    faces = examples[utt][1]["faces"].astype(np.float32)
    if len(faces):
      redness[rec["code"]].append(float((faces[..., 0] - faces[..., 2]).mean()))
  # anger tints the speaker's face red (+70 R, -25 B), sadness blue (-30 R, +50 B)
  assert min(redness["ang"]) > max(redness["sad"]) + 40


def test_drop_partial_skips_degraded_utterances(fixture, tmp_path):
  root, manifest = fixture
  _, examples, report = build(root, tmp_path, "seed004", drop_partial=True)
  skipped = {entry["id"] for entry in report["skipped"]}
  hand_missing = {u for u, r in manifest["utterances"].items() if r["dialog"] == manifest["planted"]["missing_mocap"][0]}
  planted = manifest["planted"]
  degraded = {planted["corrupt_wav"], planted["missing_wdseg"], planted["truncated_wav"]}
  assert skipped == hand_missing | degraded | {planted["garbled_turn"]}
  assert len(examples) == 27 - len(hand_missing | degraded)
  assert all(ex["waveform"].size > 0 and ex["mocap_present"].all() for _, ex in examples.values())


def test_split_lists_option_and_its_report(fixture, tmp_path):
  root, manifest = fixture
  lists = generate.write_split_lists(tmp_path / "lists", manifest)
  builder, examples, report = build(root, tmp_path / "data", "labels_text",
                                    split_dir=str(tmp_path / "lists"))
  assert sorted(builder.info.splits) == ["test", "train", "valid"]
  assert {split for split, _ in examples.values()} == {"train", "valid", "test"}
  for split, ids in lists.items():
    assert sorted(u for u, (s, _) in examples.items() if s == split) == sorted(i for i in ids if i in manifest["utterances"])
  assert [e["id"] for e in report["skipped"]] == [manifest["planted"]["garbled_turn"], "Ses09F_impro01_F000"]
  assert report["counts"]["release"]["utterances_outside_split_lists"] == 27 - 21
  assert "mel_pieces" not in examples["Ses01F_impro01_F000"][1]


def test_bad_options_and_missing_release_fail_clearly(fixture, tmp_path):
  root, _ = fixture
  with pytest.raises(ValueError, match="audio_source must be one of"):
    build_cli.build("iemocap/labels_text", str(tmp_path), str(root), {"audio_source": "left"})
  with pytest.raises(KeyError, match="Unknown option"):
    build_cli.make_builder("iemocap/full", str(tmp_path), {"num_workers": 2})
  with pytest.raises(DataError, match="is empty"):  # said before TFDS writes anything
    build_cli.build("iemocap/labels_text", str(tmp_path / "d"), str(tmp_path), {})
  (tmp_path / "notes.txt").write_text("not a release")
  with pytest.raises(release.ReleaseLayoutError, match="IEMOCAP_full_release"):
    build_cli.build("iemocap/labels_text", str(tmp_path / "d"), str(tmp_path), {})
  assert not (tmp_path / "d").exists()  # what TFDS created before the builder looked is removed


def test_a_split_emptied_by_drop_partial_is_a_clear_error(fixture, tmp_path):
  root, manifest = fixture
  # Session 4's only dialog has the unreadable video, so every utterance is partial.
  with pytest.raises(ValueError, match="split 'session4' has no example left"):
    build(root, tmp_path, "mme2e", sessions=(4,), drop_partial=True)


def test_release_parsers_on_irregular_lines(tmp_path):
  emo = tmp_path / "Ses01F_impro01.txt"
  emo.write_text(
      "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
      "C-E4:\tNeutral;\t()\n"   # an evaluator line before any turn
      "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
      "C-E2:\tNeutral state;\t()\nC-E3:\tFrustration; Anger;\t()\nC-F1:\tOther:sarcastic;\t(curious)\n"
      "A-E3:\tval 3; act 2; dom  2;\t()\n"
      "[10.0100 - 11.3925]\tSes01F_impro01_F001\txxx\t[2.5, 3.0]\n"   # no blank line, 2 numbers
      "C-E2:\tBoredom;\t()\n\n"
      "[12.0 - 13.5]\tSes01F_impro01_M000\tang\t[1.5000, 4.0000, 4.5000]\n"
      "C-E2:\tBoredom;\t()\n"
      "??13.9 -- 14.2\tSes01F_impro01_F002\tsad [1\n"   # garbled, and not even starting with "["
      "C-E2:\tSadness;\t()\n")
  evaluations, problems = release.parse_emo_evaluation(emo)
  assert [e.utt_id for e in evaluations] == ["Ses01F_impro01_F000", "Ses01F_impro01_M000"]
  first = evaluations[0]
  assert (first.start, first.end, first.code, first.vad) == (6.2901, 8.2357, "neu", (2.5, 2.5, 2.5))
  assert first.votes == (("E2", ("Neutral",)), ("E3", ("Frustration", "Anger")), ("F1", ("Other",)))
  assert first.attributes == (("E3", (3.0, 2.0, 2.0)),)
  assert first.vote_counts(self_evaluation=False)[[0, 1, 5]].tolist() == [1, 1, 1]
  assert first.vote_counts(self_evaluation=True).tolist() == [0] * 9 + [1]
  reasons = [p.reason for p in problems]
  assert any("V/A/D field" in r for r in reasons) and any("line outside a turn block" in r for r in reasons)
  assert any("unknown vote category 'Boredom'" in r for r in reasons)
  assert problems[0].where == "Ses01F_impro01.txt:3" and not problems[0].lost  # the orphan line
  assert problems[1].where == "Ses01F_impro01.txt:9" and problems[1].lost
  assert problems[1].utt_id == "Ses01F_impro01_F001"  # its "Boredom" line goes with it, unreported
  assert not problems[2].lost and problems[2].utt_id == "Ses01F_impro01_M000"
  assert problems[3].lost and problems[3].utt_id == "Ses01F_impro01_F002" and len(problems) == 4
  assert evaluations[1].votes == (("E2", ("Other",)),)  # the garbled turn's "Sadness" is not M000's

  trans = tmp_path / "t.txt"
  trans.write_text("Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\n"
                   "Ses01F_impro01_MXX0 [007.0000-007.5000]: [BREATHING]\n"
                   "M: [008.0000-009.0000]: stray line\n"
                   "Ses01F_impro01_M000 [007.5712-010.4750]: Do you have your forms?\n")
  texts, unlabelled = release.parse_transcriptions(trans)
  assert texts == {"Ses01F_impro01_F000": "Excuse me.", "Ses01F_impro01_M000": "Do you have your forms?"}
  assert unlabelled == 2  # the XX turn and the line whose id has no "_"
  assert release.speaker_side("Ses01F_impro01_F000") == "left"
  assert release.speaker_side("Ses05M_script01_1b_F003") == "right"


def test_faithful_options_dialog_audio_seed003_stats_raw_mocap_seed002_text(fixture, tiny_bert, tmp_path):
  from mmer_jax.features import audio_stats, mocap, text
  root, manifest = fixture
  tokenizer = text.load_tokenizer(tiny_bert, text.SEED002_SPECIAL_TOKENS)
  _, examples, _ = build(root, tmp_path, "seed003", sessions=(1,), waveform=True,
                         audio_source="dialog", audio_stats_source="seed003_dialog_mix", mocap=True,
                         mocap_raw=True, text_checkpoint=tiny_bert, text_max_length=16,
                         text_encoder_input="seed002")
  release_root = Path(manifest["root"])
  dialog_wav = release_root / "Session1" / "dialog" / "wav" / "Ses01F_impro01.wav"
  mix = audio_lib.load_audio(dialog_wav)
  for utt in ("Ses01F_impro01_F000", "Ses01F_impro01_M000"):
    want, (_, ex) = manifest["utterances"][utt], examples[utt]
    channel = 0 if want["side"] == "left" else 1
    np.testing.assert_array_equal(
        ex["waveform"], audio_lib.load_audio(dialog_wav, channel=channel, start=want["start"], end=want["end"]))
    np.testing.assert_allclose(
        ex["audio_stats"], audio_stats.audio_stats(audio_stats.seed003_segment(mix, want["start"], want["end"])),
        rtol=1e-5, atol=1e-6)
    track = mocap.read_mocap(release_root / "Session1" / "dialog" / "MOCAP_rotated" / "Ses01F_impro01.txt")
    rows = mocap.segment_rows(track, want["start"], want["end"])
    assert ex["mocap_rot_raw"].shape == rows.shape == (rows.shape[0], 165) and rows.shape[0] > 50
    cleaned = text.seed002_transcript(want["words"])
    assert cleaned.startswith("[CLS] <sil>") and cleaned.endswith("[SEP]")
    # The written [CLS]/[SEP] are the only ones (no second pair added); <sil> is one added token.
    tokens = tokenizer.tokenize(cleaned)
    assert tokens[:2] == ["[CLS]", "<sil>"] and tokens.count("[CLS]") == 1
    assert int(ex["text_tokens_mask"].sum()) == min(16, len(tokens))


def test_a_garbage_line_inside_a_turn_block_names_what_was_found_and_the_split(fixture, tmp_path):
  root, _ = fixture
  session1 = tmp_path / "release" / "Session1"
  shutil.copytree(Path(root) / "IEMOCAP_full_release" / "Session1", session1)
  emo = session1 / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
  lines = emo.read_text().splitlines(keepends=True)
  vote = next(i for i, line in enumerate(lines) if line.startswith("C-E"))
  lines.insert(vote + 1, "#### not an evaluator line ####\n")
  emo.write_text("".join(lines))
  _, _, report = build(tmp_path / "release", tmp_path / "data", "labels_text", sessions=(1,))
  [entry] = [e for e in report["partial"] if e["reason"].startswith("evaluation_line_ignored")]
  assert "unreadable line in the block of Ses01F_impro01_" in entry["reason"]
  assert "#### not an evaluator line ####" in entry["reason"] and "outside a turn block" not in entry["reason"]
  assert entry["split"] == "session1" and entry["id"].startswith("Ses01F_impro01_")
  assert all(e["split"] == "session1" for e in report["skipped"] + report["partial"])
