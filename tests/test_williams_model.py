"""Williams EF-BLSTM: Keras parameter parity and masking behaviour."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmer_jax.models import param_count
from mmer_jax.models.williams_ef_blstm import WilliamsEFBLSTM, keras_param_count


@pytest.mark.parametrize("layers,nodes,outputs,features,expected", [
    (1, 100, 7, 409, 257_931),    # seed 001: FACET, s=45, 1 layer, 100 nodes (hand-computed, see below)
    (3, 100, 6, 409, None),        # Williams 2018 deepest setting, emotions only
    (2, 100, 7, 300 + 713 + 74, None),  # OpenFace 2 instead of FACET
])
def test_param_count_matches_keras(layers, nodes, outputs, features, expected):
  model = WilliamsEFBLSTM(num_outputs=outputs, num_layers=layers, num_nodes=nodes)
  x = {"features": jnp.zeros((2, 45, features)), "features_mask": jnp.ones((2, 45), bool)}
  variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x, train=False))
  # Keras counts BatchNorm's moving mean/variance too.
  count = param_count(variables, ("params", "batch_stats"))
  assert count == keras_param_count(features, layers, nodes, outputs)
  if expected is not None:
    # BN 4*409 + BiLSTM 2*4*(409*64+64*64+64) + Dense 128*100+100 + Dense 100*7+7
    assert count == expected == 4 * 409 + 2 * 4 * (409 * 64 + 64 * 64 + 64) + 12_900 + 707


def test_masked_model_ignores_padding_unmasked_model_does_not():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(1, 10, 409)).astype(np.float32)
  short = np.zeros_like(x)
  short[:, :6] = x[:, :6]
  mask = np.arange(10)[None] < 6
  for use_mask, same in ((True, True), (False, False)):
    model = WilliamsEFBLSTM(use_mask=use_mask)
    inputs = {"features": jnp.asarray(short), "features_mask": jnp.asarray(mask)}
    variables = model.init(jax.random.PRNGKey(0), inputs, train=False)
    garbage = short.copy()
    garbage[:, 6:] = 5.0  # only the padded steps change
    a = model.apply(variables, inputs, train=False)
    b = model.apply(variables, {"features": jnp.asarray(garbage), "features_mask": jnp.asarray(mask)}, train=False)
    assert np.allclose(a, b, atol=1e-6) == same


def test_unknown_final_activation_is_a_clear_error():
  model = WilliamsEFBLSTM(final_activation="softplus")
  with pytest.raises(ValueError, match="model.final_activation"):
    model.init(jax.random.PRNGKey(0), {"features": jnp.zeros((1, 3, 409)), "features_mask": jnp.ones((1, 3), bool)},
               train=False)
