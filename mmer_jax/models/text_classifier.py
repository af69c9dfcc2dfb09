"""A text classifier that fine-tunes a local BERT-family checkpoint: encoder -> pooling -> dropout -> linear.

Inputs: `text` (batch, length) token ids and `text_mask` (True = real token), from the
`text_classifier` preprocessor; with dialogue context also `text_type`, the encoder's token types (1 marks
the target utterance after its context). Output: logits (batch, num_classes), for softmax cross-entropy
(single label) or sigmoid BCE (multi-label) alike.

- The encoder is `pretrained.TextEncoder` under `text_encoder/encoder`, so the trainer loads the
  checkpoint's weights there on a fresh run (`pretrained_folders`) and `^text_encoder/` selects it
  for its own learning rate (`config.optimizer.param_group_lr`).
- `pooling`: `cls` (the first token's state) or `mean` (average of the real tokens' states, as
  sentence-transformers computes sentence embeddings). None = what the checkpoint was trained with
  (`checkpoint_folder.pooling`: a sentence-transformers folder's Pooling config, e.g.
  mean for all-MiniLM-L6-v2; `cls` for plain BERT/ALBERT folders), as the frozen text features do.
- `dropout` None = the checkpoint's classifier dropout, as Hugging Face's sequence classifiers pick it
  (BERT: `classifier_dropout`, else `hidden_dropout_prob`; ALBERT: `classifier_dropout_prob`).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmer_jax import registry
from mmer_jax.features import pooling as pooling_lib
from mmer_jax.models import precision, pretrained
from mmer_jax.models.layers.dropout import Dropout


def classifier_dropout(config) -> float:
  """The dropout Hugging Face's *ForSequenceClassification puts before the head for this config."""
  for key in ("classifier_dropout", "classifier_dropout_prob", "hidden_dropout_prob"):
    if getattr(config, key, None) is not None:
      return float(getattr(config, key))
  return 0.1


def pool(hidden: jax.Array, mask: jax.Array, pooling: str) -> jax.Array:
  """(batch, length, dim) -> (batch, dim): `features.pooling.pool`, the frozen features' own code.
  `mean`: sum over real tokens / max(count, 1e-9), sentence-transformers' recipe."""
  return pooling_lib.pool(hidden, mask, pooling)


@registry.MODELS.register("text_classifier")
class TextClassifier(nn.Module):
  checkpoint: str                  # local BERT/ALBERT folder (config.json + weights)
  num_classes: int
  pooling: Optional[str] = None    # None: the checkpoint's own (checkpoint_folder.pooling)
  dropout: Optional[float] = None  # None: the checkpoint's classifier dropout
  # Frozen encoder (config `text=frozen`): no backward pass through it. Pair it with a zero lr factor
  # for `^text_encoder/`, or AdamW's weight decay would still shrink the frozen weights.
  freeze_encoder: bool = False
  dtype: Any = None  # compute dtype (config.compute_dtype); parameters stay float32

  def pretrained_folders(self) -> dict[str, str]:
    return {"text_encoder/encoder": self.checkpoint}

  def resolved_pooling(self) -> str:
    return pooling_lib.resolve(self.checkpoint, self.pooling, "model.pooling")

  @nn.compact
  def __call__(self, inputs: Mapping[str, jax.Array], *, train: bool) -> jax.Array:
    inputs = precision.cast_floating(inputs, self.dtype)
    ids = inputs["text"]
    mask = inputs.get("text_mask", jnp.ones(ids.shape, bool))
    hidden = pretrained.TextEncoder(self.checkpoint, stop_gradient=self.freeze_encoder, dtype=self.dtype,
                                    name="text_encoder")(ids, mask, train=train, token_type_ids=inputs.get("text_type"))
    pooled = pool(hidden, mask, self.resolved_pooling())
    self.sow("intermediates", "pooled", pooled)
    config = pretrained.load_config(self.checkpoint)
    rate = classifier_dropout(config) if self.dropout is None else self.dropout
    pooled = Dropout(rate)(pooled, deterministic=not train)
    init = nn.initializers.normal(stddev=getattr(config, "initializer_range", 0.02))
    return nn.Dense(self.num_classes, kernel_init=init, dtype=self.dtype, name="head")(pooled)
