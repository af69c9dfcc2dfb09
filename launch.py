r"""Launches training, evaluation or prediction of a config.

  python launch.py --config=configs/williams_sample.py --workdir=workdirs/demo
  python launch.py --config=configs/williams_sample.py:smoke --workdir=/tmp/w --config.num_epochs=1
  python launch.py --config=configs/williams_sample.py --workdir=workdirs/demo --mode=evaluate
  python launch.py --mode=predict --workdir=workdirs/run --predict_manifest=clips.csv

Rerunning the same command resumes from the latest checkpoint in --workdir.

Exit status: 0 done; 2 a user error (a wrong name, option, file or run: one or two lines on stderr,
no traceback unless --verbose); 75 preempted by SIGTERM/SIGINT after saving the latest checkpoint
(rerun to resume; 75 is EX_TEMPFAIL, which schedulers treat as "try again"); 69 a multi-host run lost
one of its hosts (one line names it and the last complete checkpoint; rerun every host to resume;
69 is EX_UNAVAILABLE; mmer_jax/train/host_watch.py).
"""

from __future__ import annotations

if __name__ == "__main__":  # before jax loads: glibc reads its tunables at process start only
  from mmer_jax.process_env import reexec_with_malloc_tunables
  reexec_with_malloc_tunables()

import importlib.util  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from absl import app, flags  # noqa: E402
from absl import logging as absl_logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from mmer_jax.errors import EXIT_USER_ERROR  # noqa: E402

EXIT_PREEMPTED = 75

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/*.py[:args]).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and the report go.")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "evaluate", "predict"],
                          "train (and resume), evaluate the best checkpoint, or predict on new media.")
_MANIFEST = flags.DEFINE_string("predict_manifest", None, "predict: CSV with id and any of audio, video, text.")
_TEXT_CKPT = flags.DEFINE_string("predict_text_checkpoint", None, "predict: local text encoder folder.")
_OUTPUT = flags.DEFINE_string("predict_output", None, "predict: output CSV (default <workdir>/predictions.csv).")
_PRINT_CONFIG = flags.DEFINE_bool("print_config", False, "Print the resolved config (after overrides) and exit.")
_VERBOSE = flags.DEFINE_bool("verbose", False, "Show the full traceback of user errors too.")
flags.mark_flags_as_required(["workdir"])


def prepare_data_dir(config, workdir: Path) -> None:
  """Defaults input.data_dir to <workdir>/data and builds self-contained sample datasets if asked.

  On several hosts only process 0 builds; the others wait for it at a barrier.
  """
  from mmer_jax.data import sources  # noqa: PLC0415
  from mmer_jax.train import runtime  # noqa: PLC0415
  with config.unlocked():
    if not config.input.data_dir:
      config.input.data_dir = str(workdir / "data")
  if not config.input.build_if_missing:
    # A missing dataset is said now, before the trainer creates the workdir.
    sources.tfds_source(config.input.tfds_name, config.input.splits.train, config.input.data_dir)
    return
  if runtime.is_main_process():
    try:
      sources.tfds_source(config.input.tfds_name, config.input.splits.train, config.input.data_dir)
    except sources.DatasetNotBuiltError:
      from tfds_builders import build  # noqa: PLC0415
      logging.getLogger("mmer_jax").info("Building %s into %s", config.input.tfds_name, config.input.data_dir)
      build.build(config.input.tfds_name, config.input.data_dir)
  runtime.barrier("mmer_jax_sample_dataset_built")


def predict(workdir: Path) -> None:
  from mmer_jax import predict as predict_lib  # noqa: PLC0415
  if not _MANIFEST.value:
    raise app.UsageError("--mode=predict needs --predict_manifest=<csv with id,audio,video,text>.")
  predictor = predict_lib.Predictor(workdir)
  table = predictor.predict_media(predict_lib.read_manifest(_MANIFEST.value, predictor.manifest_roles),
                                  _TEXT_CKPT.value)
  output = Path(_OUTPUT.value) if _OUTPUT.value else workdir / "predictions.csv"
  table.to_csv(output, index=False)
  print(table.to_string(index=False, max_rows=20))
  print(f"Predictions: {output}")


def run(config, workdir: Path, mode: str) -> None:
  from mmer_jax.train import experiment, host_watch, runtime, trainer  # noqa: PLC0415  (grain reads absl flags)
  if mode == "predict":
    predict(workdir)
    return
  if config is None:
    raise app.UsageError("--config is required for --mode=train and --mode=evaluate.")
  if _PRINT_CONFIG.value:
    print(config.to_json_best_effort(indent=1, sort_keys=True))
    return
  model = experiment.check_names(config)  # before anything is built or written
  if (status := host_watch.supervise(config, workdir)) is not None:  # multi-host: the work runs in a child
    sys.exit(status)
  runtime.setup_runtime(config, workdir)
  prepare_data_dir(config, workdir)
  # Checked, built and set up once: the trainer's assembly does not repeat it.
  results = trainer.train_and_evaluate(config, workdir, mode=mode, prepared=experiment.Prepared(model))
  if runtime.is_main_process():
    for split, metrics in results.items():
      headline = {k: round(v, 4) for k, v in list(metrics.items())[:8]}
      print(f"{split}: {headline}")
    if results:
      print(f"Report: {workdir / 'report' / 'report.md'}")


def main(argv):
  del argv
  # Orbax and grain log every save at INFO through absl; keep the console to our own progress.
  absl_logging.set_verbosity(absl_logging.WARNING)
  logging.getLogger("mmer_jax").setLevel(logging.INFO)
  from mmer_jax.errors import UserError  # noqa: PLC0415
  from mmer_jax.features import video  # noqa: PLC0415
  from mmer_jax.train.trainer import Preempted  # noqa: PLC0415
  video.show_decoder_messages(_VERBOSE.value)  # predict decodes the user's videos
  try:
    run(_CONFIG.value, Path(_WORKDIR.value).expanduser(), _MODE.value)
  except Preempted as stop:
    print(f"Preempted: {stop}", file=sys.stderr)
    sys.exit(EXIT_PREEMPTED)
  except UserError as error:
    if _VERBOSE.value:
      raise
    print(f"Error: {error}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


def plain_message(error: BaseException) -> str:
  """An exception's message as one plain line: a KeyError's text without its repr quotes and escaped
  newlines (`'\'stepz\'\nDid you mean...'`), a wrapped exception's own text, lines joined."""
  text = error
  while isinstance(text, BaseException):
    text = text.args[0] if len(text.args) == 1 else str(text)
  message = " ".join(line.strip() for line in str(text).strip().splitlines() if line.strip())
  bare = re.fullmatch(r"""(['"])([^'"]*)\1""", message)  # KeyError("'optim'"): just the name
  return (bare.group(2) if bare else message) or type(error).__name__


def unknown_override(argv, config_value: str | None) -> str | None:
  """`--config.optim.lrr=1: config has no field 'optim'. Did you mean 'optimizer'?` for the first
  override whose dotted path leaves the config file's config; None when every path exists."""
  from mmer_jax.errors import did_you_mean  # noqa: PLC0415
  try:  # the flag holds no value when an override failed inside its parse: load the file again
    path, *arg = (config_value or "").split(":", 1)
    spec = importlib.util.spec_from_file_location("_config_for_error_message", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config(*arg)
  except Exception:  # noqa: BLE001  (the file's own error is reported by the caller)
    return None
  if not hasattr(config, "keys"):
    return None
  for arg in argv:
    if not arg.startswith("--config."):
      continue
    node, walked = config, "config"
    for part in arg[len("--config."):].split("=", 1)[0].split("."):
      if not hasattr(node, "keys"):
        break
      if part not in node:
        return (f"{arg}: {walked} has no field {part!r}.{did_you_mean(part, node.keys())} "
                f"Its fields: {', '.join(sorted(node.keys()))}.")
      node, walked = node[part], f"{walked}.{part}"
  return None


def config_flag_value(argv) -> str | None:
  """The value given to --config (`--config=x.py:arg` or `--config x.py:arg`), if any."""
  for i, arg in enumerate(argv):
    if arg.startswith("--config="):
      return arg.split("=", 1)[1]
    if arg == "--config" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def missing_config_file(value: str) -> str | None:
  """The one-line refusal of a --config whose file does not exist (ml_collections would fail later,
  with a 39-line traceback and exit 1); None when the file is there."""
  from mmer_jax.errors import did_you_mean  # noqa: PLC0415
  path = Path(value.split(":", 1)[0])
  if path.is_file():
    return None
  folder = path.parent if path.parent.is_dir() else Path("configs")
  known = sorted(str(p) for p in folder.glob("*.py") if not p.name.startswith("_"))
  return f"--config={value}: no such config file.{did_you_mean(str(path), known)}"


def _innermost(error: BaseException) -> BaseException:
  """The original exception under absl's and ml_collections' re-raises (the config file's own error)."""
  chain = [error]
  while (cause := chain[-1].__cause__ or chain[-1].__context__) is not None and cause not in chain:
    chain.append(cause)
  return chain[-1]


def parse_flags(argv):
  """absl's parser, except that a config file that is missing or refuses its `:arg`, or a config
  override naming no field (`--config.optim.lrr=1`), is said in one or two plain lines (exit 2)
  instead of a traceback; `--verbose` keeps the traceback."""
  verbose = "--verbose" in argv
  hint = "Run `python launch.py --config=<file> --workdir=<dir> --print_config` to see the config's fields."
  config_value = config_flag_value(argv)
  refusal = missing_config_file(config_value) if config_value else None
  if refusal and not verbose:
    print(f"Error: {refusal}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)
  try:
    return flags.FLAGS(argv)
  except flags.Error as error:
    if verbose:
      raise
    cause = _innermost(error)
    unknown = unknown_override(argv, config_value)
    if cause is not error and config_value and f"--config={config_value}" in str(error):
      # The config file's get_config(arg) raised: say its message, not the traceback around it.
      print(f"Error: --config={config_value}: {plain_message(cause)}", file=sys.stderr)
    elif unknown:
      print(f"Error: {unknown}", file=sys.stderr)
    else:
      print(f"Error: {plain_message(error)}", file=sys.stderr)
      if "--config" in str(error):
        print(hint, file=sys.stderr)
  except (AttributeError, KeyError, ValueError, TypeError, OSError) as error:
    if verbose:
      raise
    unknown = unknown_override(argv, config_value)
    if unknown:
      print(f"Error: {unknown}", file=sys.stderr)
    else:
      print(f"Error in the config file or a --config override: {plain_message(error)}\n{hint}", file=sys.stderr)
  sys.exit(EXIT_USER_ERROR)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
