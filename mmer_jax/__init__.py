"""mmer_jax: multimodal emotion recognition in JAX/Flax.

Models, datasets and preprocessors are looked up by name through the registries in
`mmer_jax.registry`; importing `mmer_jax.models` and `mmer_jax.data` fills them.
"""

__version__ = "0.1.0"
