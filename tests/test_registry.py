import pytest

from mmer_jax import registry


def test_unknown_model_lists_known_names_and_suggests():
  with pytest.raises(registry.UnknownNameError) as error:
    registry.get_model("williams_ef_blstn")
  message = str(error.value)
  assert "Unknown model 'williams_ef_blstn'" in message
  assert "Did you mean 'williams_ef_blstm'" in message
  assert "williams_ef_blstm" in message.split("Known models:")[1]


def test_unknown_preprocessor_lists_known_names():
  with pytest.raises(KeyError, match="Known preprocessors: .*williams_ef"):
    registry.get_preprocessor("nope")


def test_double_registration_of_a_different_object_fails():
  reg = registry.Registry("thing")
  reg.register("a")(int)
  reg.register("a")(int)  # same object again is harmless (module re-import)
  with pytest.raises(ValueError, match="registered twice"):
    reg.register("a")(float)
  assert reg.names() == ["a"] and "a" in reg


def test_unknown_builder_lists_known_builders():
  import tfds_builders
  with pytest.raises(KeyError, match="Known builders: .*synthetic_mosei"):
    tfds_builders.builder_class("synthetic_mosie")
