"""init_from: copy subtrees from other runs' best checkpoints, or merge their dense heads (MM-B)."""

import functools

import numpy as np
import pytest

from mmer_jax.train import init_from

RUNS = {}  # workdir -> params: the merge logic is tested here, the restore in test_experiment.py


def _fake_run(path, seed):
  rng = np.random.default_rng(seed)
  params = {"encoder": {"w": rng.normal(size=(3, 2)).astype(np.float32)},
            "head": {"kernel": rng.normal(size=(2, 4)).astype(np.float32),
                     "bias": rng.normal(size=(4,)).astype(np.float32)}}
  RUNS[str(path)] = params
  return params


apply_init_from = functools.partial(init_from.apply_init_from, load=lambda workdir: RUNS[str(workdir)])


def test_copy_and_merge_heads(tmp_path):
  acoustic, lexical = _fake_run(tmp_path / "a", 0), _fake_run(tmp_path / "l", 1)
  target = {"acoustic": {"w": np.zeros((3, 2), np.float32)}, "lexical": {"w": np.zeros((3, 2), np.float32)},
            "head": {"kernel": np.zeros((4, 4), np.float32), "bias": np.zeros((4,), np.float32)}}
  entries = [{"workdir": str(tmp_path / "a"), "source": "encoder", "target": "acoustic"},
             {"workdir": str(tmp_path / "l"), "source": "encoder", "target": "lexical"},
             {"workdirs": [str(tmp_path / "a"), str(tmp_path / "l")], "source": "head", "target": "head",
              "combine": "concat_kernels_sum_biases"}]
  out = apply_init_from(target, entries)
  np.testing.assert_array_equal(out["acoustic"]["w"], acoustic["encoder"]["w"])
  np.testing.assert_array_equal(out["lexical"]["w"], lexical["encoder"]["w"])
  np.testing.assert_array_equal(out["head"]["kernel"],
                                np.concatenate([acoustic["head"]["kernel"], lexical["head"]["kernel"]]))
  np.testing.assert_allclose(out["head"]["bias"], acoustic["head"]["bias"] + lexical["head"]["bias"])
  # The merged head on [x_a, x_l] gives exactly the sum of the two unimodal logits.
  x_a, x_l = np.ones(2), np.arange(2.0)
  merged = np.concatenate([x_a, x_l]) @ out["head"]["kernel"] + out["head"]["bias"]
  separate = (x_a @ acoustic["head"]["kernel"] + acoustic["head"]["bias"]
              + x_l @ lexical["head"]["kernel"] + lexical["head"]["bias"])
  np.testing.assert_allclose(merged, separate, rtol=1e-5)


def test_mismatches_are_errors_not_skips(tmp_path):
  _fake_run(tmp_path / "a", 0)
  with pytest.raises(KeyError, match="no parameter under 'decoder'"):
    apply_init_from({"x": {"w": np.zeros((3, 2))}}, [{"workdir": str(tmp_path / "a"), "source": "decoder",
                                                       "target": "x"}])
  with pytest.raises(ValueError, match="shape of encoder/w"):
    apply_init_from({"x": {"w": np.zeros((2, 2))}}, [{"workdir": str(tmp_path / "a"), "source": "encoder",
                                                       "target": "x"}])
  with pytest.raises(ValueError, match="combine"):
    apply_init_from({}, [{"workdirs": [str(tmp_path / "a")], "source": "head", "target": "head", "combine": "avg"}])
