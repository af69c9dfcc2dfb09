"""`Experiment`: the one place that assembles a run, for training, evaluation, prediction and init_from.

    experiment = Experiment.from_config(config, workdir, sources)   # training / evaluation on data
    experiment = Experiment.restore(workdir)                        # a finished run: predict, init_from

Both build the same pieces in the same order: the preprocessor with its fitted state, the model,
the device mesh, the optimiser, the loss, an abstract train-state template (each leaf's shape, dtype
and sharding on the current mesh) and the checkpointer. A fresh run asks `initial_state()` for its
concrete random initialisation. Restores always go through the template, so a checkpoint
written by N processes or devices loads on any other number (Orbax places each array as the
template says instead of as the writer's topology was).

`restore` needs no data: the shapes of the model inputs are saved beside the run
(`<workdir>/input_spec.json`), and the state template is built from them. The same file
records the length buckets the pipeline chose from the training data (with the settings they came
from), so a resumed run, `--mode=evaluate` and prediction pad to the same lengths and compile the
same shapes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from ml_collections import ConfigDict

from mmer_jax import batch as batch_keys
from mmer_jax import registry
from mmer_jax.data import manifest_task
from mmer_jax.data import pipeline as pipeline_lib
from mmer_jax.data.preprocess import options as preprocess_options
from mmer_jax.data.preprocess.base import Preprocessor
from mmer_jax.errors import ConfigError, DataError
from mmer_jax.models import precision
from mmer_jax.train import checkpoint as ckpt_lib
from mmer_jax.train import defaults, losses, optim, runtime, state as state_lib, step as step_lib

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
INPUT_SPEC_FILE = "input_spec.json"
PREPROCESSOR_STATE_FILE = "preprocessor_state.json"


def build_model(config: ConfigDict):
  """The Flax module `config.model_name` names, with `config.model` as its fields."""
  cls = registry.get_model(config.model_name)
  fields = config.model.to_dict()
  known = set(getattr(cls, "__dataclass_fields__", {})) - {"parent", "name"}
  unknown = sorted(set(fields) - known)
  if known and unknown:
    from mmer_jax.errors import did_you_mean  # noqa: PLC0415
    raise ConfigError(f"config.model.{unknown[0]} is not a field of model {config.model_name!r}."
                      f"{did_you_mean(unknown[0], known)} Its fields: {', '.join(sorted(known))}.")
  # The compute dtype is the run's, not one model's: every model gets it here (flax imagenet's
  # `half_precision`), so configs never repeat it. Parameters stay float32 whatever it is.
  name = config.compute_dtype
  dtype = precision.compute_dtype(name)
  if "dtype" in fields:
    raise ConfigError(f"config.model.dtype is not a model option: set config.compute_dtype "
                      f"({' or '.join(precision.COMPUTE_DTYPES)}) instead.")
  if "dtype" in known:
    fields["dtype"] = dtype
  elif name != "float32":
    raise ConfigError(f"config.compute_dtype={name!r}, but model {config.model_name!r} has no `dtype` field "
                      f"(docs/DEVELOPING.md, Models); use float32.")
  return cls(**fields)


def resolve_encoder_lr(config: ConfigDict) -> None:
  """`config.text.encoder_lr_factor` None (the fine-tuning configs' default) becomes the factor that
  gives the text checkpoint its usual fine-tuning rate (`optim.finetune_learning_rate`) relative
  to `optimizer.learning_rate`; the learning-rate group refers to the field, so it follows."""
  if "text" not in config:  # the text section is the fine-tuning configs' own (configs/common.text_section)
    return
  text = config.text
  if text.encoder_lr_factor is not None or not text.checkpoint:
    return
  rate = optim.finetune_learning_rate(text.checkpoint)
  head = float(config.optimizer.learning_rate)
  text.encoder_lr_factor = rate / head if head > 0 else 1.0  # a zero head rate trains nothing anyway
  log.info("Text encoder learning rate %.2g (%s's width; config.text.encoder_lr_factor=%.3g)", rate,
           Path(text.checkpoint).name, text.encoder_lr_factor)


def check_names(config: ConfigDict) -> Any:
  """Every name and option the config gives, checked before anything is built or written. Returns
  the model it built doing so (building it is how the model's fields are checked)."""
  manifest_task.resolve(config)  # a manifest dataset's labels and task, from its build's metadata
  model = build_model(config)
  preprocess_options.build(config)
  from mmer_jax.errors import did_you_mean  # noqa: PLC0415
  for kind, field, name, known in (
      ("optimizer", "optimizer.name", config.optimizer.name, optim.OPTIMIZERS),
      ("schedule", "optimizer.schedule", config.optimizer.schedule, optim.SCHEDULES),
      ("loss", "loss.name", config.loss.name, losses.LOSSES)):
    if name not in known:
      raise registry.UnknownNameError(f"Unknown {kind} {name!r} in config.{field}.{did_you_mean(name, known)} "
                                      f"Known: {', '.join(known)}.")
  return model


@dataclasses.dataclass(frozen=True)
class Prepared:
  """What is done once per launch before a run is assembled: the config's names checked (the model
  built doing so) and the runtime set up (`prepare`). launch.py does the two steps itself, with the
  multi-host supervisor between them, and hands this to `Experiment.from_config`, which otherwise
  prepares by itself."""

  model: Any


def prepare(config: ConfigDict, workdir: Optional[str | Path] = None) -> Prepared:
  """Checks the config's names and sets up the runtime, once."""
  model = check_names(config)
  runtime.setup_runtime(config, workdir)
  return Prepared(model)


def _to_json(value: Any) -> Any:
  if isinstance(value, np.ndarray):
    return value.tolist()
  if isinstance(value, np.generic):
    return value.item()
  raise TypeError(f"Preprocessor state holds a {type(value).__name__}, which JSON cannot store.")


def _input_spec(inputs: Mapping[str, np.ndarray], buckets: Mapping[str, Any]) -> dict:
  return {"inputs": {k: {"shape": list(np.shape(v)), "dtype": str(np.asarray(v).dtype)} for k, v in inputs.items()},
          "buckets": dict(buckets)}


def read_input_spec(path: Path) -> tuple[dict, dict]:
  """(model input shapes, the bucket record) of a run's input_spec.json; runs written before buckets
  were recorded hold the shapes alone, and no record."""
  spec = json.loads(Path(path).read_text())
  if isinstance(spec.get("inputs"), Mapping) and "buckets" in spec:
    return dict(spec["inputs"]), dict(spec["buckets"] or {})
  return spec, {}


def _zeros(spec: Mapping[str, Mapping[str, Any]]) -> dict[str, np.ndarray]:
  return {k: np.zeros(v["shape"], v["dtype"]) for k, v in spec.items()}


def _write(path: Path, text: str) -> None:
  """Process 0 writes run files, atomically (a kill never leaves half a file)."""
  if jax.process_index() != 0:
    return
  tmp = path.with_suffix(path.suffix + ".tmp")
  tmp.write_text(text)
  tmp.replace(path)


def _abstract_state(model, tx, inputs: dict[str, Any], seed: int, mesh: Mesh) -> state_lib.TrainState:
  abstract = jax.eval_shape(lambda x: state_lib.create(model, tx, x, seed), inputs)
  replicated = NamedSharding(mesh, P())
  return jax.tree_util.tree_map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=replicated), abstract)


@dataclasses.dataclass
class Experiment:
  config: ConfigDict
  workdir: Path
  preprocessor: Preprocessor
  model: Any
  mesh: Mesh
  tx: Any
  loss_fn: Any
  # Shapes, dtypes and replicated shardings only: what restores need. A concrete state would hold
  # a second copy of the parameters and optimiser moments for the whole run (`initial_state`).
  template: state_lib.TrainState
  checkpointer: ckpt_lib.Checkpointer
  pipeline: Optional[pipeline_lib.InputPipeline] = None
  buckets: Optional[dict[str, list[int]]] = None  # the run's length buckets (see the module docstring)
  example_inputs: Optional[dict[str, Any]] = None  # a batch of the first bucket's shapes: initialises

  def initial_state(self) -> state_lib.TrainState:
    """A fresh run's randomly initialised state from `config.seed`, replicated on the mesh."""
    state = state_lib.create_for_run(self.model, self.tx, self.example_inputs, int(self.config.seed))
    return step_lib.replicate(state, self.mesh)

  # --- assembly ---------------------------------------------------------------------------------
  @classmethod
  def from_config(cls, config: ConfigDict, workdir: str | Path,
                  sources: Optional[Mapping[str, Sequence[Any]]] = None, *, fit: bool = True,
                  prepared: Optional[Prepared] = None) -> "Experiment":
    """Builds a run from its config and data; `fit=False` (evaluation) needs the saved statistics.
    `prepared`: the launch's `prepare` already done (else done here)."""
    model = (prepared or prepare(config)).model
    workdir = Path(workdir).expanduser()
    if jax.process_index() == 0:
      workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / INPUT_SPEC_FILE
    recorded = read_input_spec(spec_path)[1] if spec_path.exists() else None
    pipeline = pipeline_lib.InputPipeline(config, sources, recorded_buckets=recorded)
    _load_or_fit_preprocessor(pipeline.preprocessor, workdir, pipeline if fit else None)
    mesh = step_lib.make_mesh()
    resolve_encoder_lr(config)
    tx = optim.make_optimizer(config.optimizer, pipeline.steps_per_epoch, config.num_epochs)
    loss_fn = losses.make_loss(config.loss, _resolve_pos_weight(config, pipeline))
    inputs = batch_keys.model_inputs(pipeline.example_batch())
    _write(spec_path, json.dumps(_input_spec(inputs, pipeline.bucket_record()), indent=1))
    template = _abstract_state(model, tx, inputs, int(config.seed), mesh)
    return cls(config, workdir, pipeline.preprocessor, model, mesh, tx, loss_fn, template,
               _checkpointer(config, workdir), pipeline, pipeline.buckets, inputs)

  @classmethod
  def restore(cls, workdir: str | Path, config: Optional[ConfigDict] = None) -> "Experiment":
    """A trained run from its workdir alone (config, preprocessor state, input shapes, checkpoints)."""
    workdir = Path(workdir).expanduser()
    if config is None:
      config_path = workdir / CONFIG_FILE
      if not config_path.exists():
        raise DataError(f"{config_path} is missing: {workdir} is not a run trained with launch.py "
                        f"(or train_and_evaluate). Train it first, or pass the right --workdir.")
      config = defaults.complete(json.loads(config_path.read_text()))
    model = check_names(config)
    spec_path = workdir / INPUT_SPEC_FILE
    if not spec_path.exists():
      raise DataError(f"{spec_path} is missing: the run predates it; evaluate it once with "
                      f"--mode=evaluate (which writes it) before predicting from it.")
    preprocessor = preprocess_options.build(config)
    _load_or_fit_preprocessor(preprocessor, workdir, None)
    mesh = step_lib.make_mesh()
    resolve_encoder_lr(config)
    tx = optim.make_optimizer(config.optimizer, 1, config.num_epochs)  # same state structure
    loss_fn = losses.make_loss(config.loss, None)
    shapes, record = read_input_spec(spec_path)
    inputs = _zeros(shapes)
    buckets = {k: [int(x) for x in v] for k, v in (record.get("lengths") or config.input.buckets or {}).items()}
    template = _abstract_state(model, tx, inputs, int(config.seed), mesh)
    return cls(config, workdir, preprocessor, model, mesh, tx, loss_fn, template, _checkpointer(config, workdir),
               buckets=buckets, example_inputs=inputs)

  # --- checkpoints ------------------------------------------------------------------------------
  def best_state(self) -> tuple[state_lib.TrainState, int]:
    """The best checkpoint's state, placed on this mesh, and its step."""
    return self.checkpointer.restore_best(self.template)

  def best_variables(self) -> dict[str, Any]:
    """`{"params"[, "batch_stats"]}` of the best checkpoint, replicated on this mesh."""
    state, _ = self.best_state()
    return state.variables()

  def close(self) -> None:
    self.checkpointer.close()


def _checkpointer(config: ConfigDict, workdir: Path) -> ckpt_lib.Checkpointer:
  also_best = tuple((m["metric"], m["mode"]) for m in config.checkpoint.also_best or [])
  return ckpt_lib.Checkpointer(workdir, metric=config.evaluation.selection_metric, mode=config.evaluation.mode,
                               keep_best=int(config.checkpoint.keep_best), also_best=also_best)


def _load_or_fit_preprocessor(preprocessor: Preprocessor, workdir: Path,
                              pipeline: Optional[pipeline_lib.InputPipeline]) -> None:
  """Loads `<workdir>/preprocessor_state.json`, or fits on train (when `pipeline` is given) and saves."""
  path = workdir / PREPROCESSOR_STATE_FILE
  if path.exists():
    preprocessor.load_state_dict(json.loads(path.read_text()))
  elif pipeline is not None:
    pipeline.fit_preprocessor()
    if preprocessor.needs_fit():
      workdir.mkdir(parents=True, exist_ok=True)
      _write(path, json.dumps(preprocessor.state_dict(), default=_to_json))
  elif preprocessor.needs_fit():
    raise DataError(f"{path} is missing: evaluation and prediction need the statistics fitted during "
                    f"training. Train the run first (--mode=train) with this --workdir.")


def _resolve_pos_weight(config: ConfigDict, pipeline: pipeline_lib.InputPipeline) -> Optional[list[float]]:
  pos_weight = config.loss.pos_weight
  if pos_weight is None or config.loss.name != "sigmoid_bce":
    return None
  if isinstance(pos_weight, str):
    if pos_weight != "auto":
      raise ConfigError(f"config.loss.pos_weight={pos_weight!r}; use None, a list, or 'auto' (neg/pos on train).")
    labels = np.stack([pipeline.preprocessor.label(ex) for ex in
                       pipeline_lib.IndexedSource(pipeline.raw["train"], pipeline.kept["train"])])
    return losses.auto_pos_weight(labels)
  return list(pos_weight)
