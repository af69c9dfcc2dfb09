"""IEMOCAP label schemes: mappings, targets and the documented full-corpus counts."""

import numpy as np
import pytest

from mmer_jax.data import label_schemes as ls


def full_corpus_codes():
  return [code for code, n in ls.IEMOCAP_CODE_COUNTS.items() for _ in range(n)]


@pytest.mark.parametrize("name, total", [("iemocap_4class", 5531), ("seed004_4class", 4936),
                                         ("mme2e_6class", 7380), ("seed003_6class", 7527),
                                         ("iemocap_6class", 7380)])
def test_documented_counts_on_the_full_corpus(name, total):
  assert sum(ls.get_scheme(name).counts(full_corpus_codes()).values()) == total


def test_mappings_and_merges():
  four = ls.get_scheme("iemocap_4class")
  assert [four(c) for c in ("ang", "hap", "exc", "neu", "sad", "fru", "xxx")] == [0, 1, 1, 2, 3, None, None]
  seed4 = ls.get_scheme("seed004_4class")
  assert [seed4(c) for c in ("neu", "ang", "exc", "sad", "hap")] == [0, 1, 2, 3, None]
  seed3 = ls.get_scheme("seed003_6class")
  assert seed3("fru") == seed3("sad") == 2 and seed3("exc") == seed3("hap") == 1 and seed3("dis") is None
  assert ls.get_scheme("seed003_6class").counts(full_corpus_codes())["sad"] == 2933


def test_targets_single_and_multi_label():
  assert ls.get_scheme("iemocap_4class").target("exc") == np.int32(1)
  one_hot = ls.get_scheme("mme2e_6class").target("fru")
  np.testing.assert_array_equal(one_hot, [0, 0, 1, 0, 0, 0])
  assert one_hot.dtype == np.float32
  assert ls.get_scheme("mme2e_6class").target("xxx") is None


def test_raw_indices_follow_the_builder_class_label_order():
  four = ls.get_scheme("iemocap_4class")
  assert four(ls.IEMOCAP_CODES.index("exc")) == 1
  assert four(b"sad") == 3
  assert four(np.array(ls.IEMOCAP_CODES.index("neu"))) == 2  # 0-d arrays from batching/decoding
  assert four(np.array("ang")) == 0


def test_bad_names_and_codes_fail_loudly():
  with pytest.raises(KeyError, match="Known schemes"):
    ls.get_scheme("four_class")
  with pytest.raises(ValueError, match="Unknown IEMOCAP label code"):
    ls.get_scheme("iemocap_4class")("happy")
  with pytest.raises(ValueError, match="outside"):
    ls.get_scheme("iemocap_4class")(11)


def test_iemocap_6class_is_single_label_six_classes_and_drops_the_rest():
  six = ls.get_scheme("iemocap_6class")
  assert six.class_names == ("ang", "exc", "fru", "hap", "neu", "sad") and not six.multi_label
  assert [six(c) for c in ("ang", "exc", "fru", "hap", "neu", "sad")] == list(range(6))
  assert [six(c) for c in ("xxx", "sur", "fea", "oth", "dis")] == [None] * 5  # not merged anywhere
  target = six.target(ls.IEMOCAP_CODES.index("fru"))
  assert target.dtype == np.int32 and target.shape == () and int(target) == 2
  # the same classes and order as MME2E's one-hot scheme, so results compare column by column
  assert six.class_names == ls.get_scheme("mme2e_6class").class_names
  assert six.counts(full_corpus_codes()) == {"ang": 1103, "exc": 1041, "fru": 1849, "hap": 595, "neu": 1708,
                                             "sad": 1084}


def test_vector_schemes_follow_the_builders_and_single_label_needs_one_class():
  from tfds_builders.cmu_mosei import sequences
  from tfds_builders.samsemo import layout
  assert ls.SAMSEMO_EMOTIONS == tuple(layout.EMOTIONS)
  assert ls.MOSEI_EMOTIONS == tuple(sequences.MME2E_EMOTIONS)
  multi, single = ls.scheme_for("samsemo", "samsemo_multi"), ls.scheme_for("samsemo", "samsemo_single")
  np.testing.assert_array_equal(multi.target([1, 0, 1, 0, 0]), [1, 0, 1, 0, 0])
  assert single.target([0, 0, 1, 0, 0]) == 2 and single.target([1, 0, 1, 0, 0]) is None
  assert single.target([0, 0, 0, 0, 0]) is None
  mosei = ls.scheme_for("cmu_mosei", "mosei_single")
  assert mosei.field == "emotions" and mosei.target([0, 0, 0, 0.33, 0, 0]) == 3
  with pytest.raises(ValueError, match="shape"):
    multi.target([1, 0, 1])
  with pytest.raises(KeyError, match="samsemo_multi"):
    ls.scheme_for("samsemo", "iemocap_6class")
  assert ls.scheme_for("iemocap", "iemocap_6class") is ls.get_scheme("iemocap_6class")
