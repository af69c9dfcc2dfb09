"""IEMOCAP label schemes: mappings, targets and the documented full-corpus counts."""

import numpy as np
import pytest

from mmer_jax.data import label_schemes as ls


def full_corpus_codes():
  return [code for code, n in ls.IEMOCAP_CODE_COUNTS.items() for _ in range(n)]


@pytest.mark.parametrize("name, total", [("iemocap_4class", 5531), ("seed004_4class", 4936),
                                         ("mme2e_6class", 7380), ("seed003_6class", 7527)])
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
