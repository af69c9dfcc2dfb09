"""Every config field the code reads is declared by a config, and read without a default of its own.

The code (mmer_jax/** and launch.py) is parsed (ast) for attribute chains rooted at a config object:
`config.a.b`, `self.config.a`, `experiment.config.a`, a parameter that holds a config section
(SECTION_PARAMETERS), and names assigned from such a chain (`self.cfg = config.input`, then
`self.cfg.batch_size`). Each chain must be a field that some variant of some config declares
(tests/test_configs.py's arguments, every config file): the default lives there (base_config in
mmer_jax/train/defaults.py, or the config that owns the field), so `.get(key, default)` on a config
object, which would state a second default, is refused too.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from ml_collections import ConfigDict

from tests import test_configs

ROOT = Path(__file__).resolve().parents[1]
# Models, features and kernels never see a run's config (tests/test_import_walls.py): their `config`
# is a checkpoint's (transformers') own.
SOURCES = sorted(p for p in (ROOT / "mmer_jax").rglob("*.py")
                 if not p.relative_to(ROOT).as_posix().startswith(("mmer_jax/models/", "mmer_jax/features/",
                                                                   "mmer_jax/kernels/"))) + [ROOT / "launch.py"]

# Parameters that hold one section of the config, by module: (module path, parameter) -> section.
# A function taking a ConfigDict under any other name than `config` must be listed here (checked below).
SECTION_PARAMETERS = {
    ("mmer_jax/train/optim.py", "cfg"): "optimizer",
    ("mmer_jax/train/losses.py", "cfg"): "loss",
    ("mmer_jax/train/epoch_actions.py", "task"): "task",
    ("mmer_jax/metrics/evaluate.py", "task"): "task",
    ("mmer_jax/metrics/report.py", "task"): "task",
    ("mmer_jax/data/dialog_split.py", "input_cfg"): "input",
    ("mmer_jax/data/dialog_context.py", "input_cfg"): "input",
}
# ConfigDict's own methods end a chain (`config.model.to_dict()` reads the section `model`).
METHODS = {"get", "get_ref", "to_dict", "to_json", "to_json_best_effort", "items", "keys", "values", "unlocked",
           "lock", "unlock", "update", "copy_and_resolve_references", "get_oneway_ref", "is_locked", "is_type_safe"}
ROOT_ATTRIBUTE = "config"  # `self.config`, `experiment.config`: a whole config


def _chain(node: ast.AST) -> list[str] | None:
  """`a.b.c` -> ['a', 'b', 'c'] (string subscripts count as fields); None for anything else."""
  parts = []
  while True:
    if isinstance(node, ast.Attribute):
      parts.append(node.attr)
      node = node.value
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
      parts.append(node.slice.value)
      node = node.value
    elif isinstance(node, ast.Name):
      parts.append(node.id)
      return parts[::-1]
    else:
      return None


class _Reads(ast.NodeVisitor):
  """The config paths one module reads (or writes), and where it calls `.get` on a config object.

  A config object is a parameter `config` (unannotated or a ConfigDict), a SECTION_PARAMETERS one,
  `<...>experiment.config` (the Experiment's), a dataclass field `config: ConfigDict` (as
  `self.config`), or a name assigned from a config chain; a name assigned anything else is not.
  """

  def __init__(self, module: str):
    self.module = module
    self.aliases: dict[str, str] = {}       # "self.cfg" -> section path, module-wide
    self.params: dict[str, str] = {}        # names of the function being visited -> section path

  reads: set
  gets: list

  def config_path(self, parts: list[str]) -> tuple[str, list[str]] | None:
    """(section path of the chain's root, the fields after it), if the chain starts at a config."""
    if parts[0] in self.params:
      return self.params[parts[0]], parts[1:]
    if len(parts) > 1 and f"{parts[0]}.{parts[1]}" in self.aliases:
      return self.aliases[f"{parts[0]}.{parts[1]}"], parts[2:]
    for i in range(1, len(parts)):
      if parts[i] == ROOT_ATTRIBUTE and parts[i - 1] == "experiment":
        return "", parts[i + 1:]
    return None

  def visit_ClassDef(self, node):
    for item in node.body:  # dataclass fields: `config: ConfigDict`
      if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and \
          "ConfigDict" in ast.unparse(item.annotation):
        self.aliases[f"self.{item.target.id}"] = ""
    self.generic_visit(node)

  def visit_FunctionDef(self, node):
    saved = dict(self.params)
    for arg in node.args.args + node.args.kwonlyargs:
      annotation = ast.unparse(arg.annotation) if arg.annotation else ""
      if arg.arg == ROOT_ATTRIBUTE and (not annotation or "ConfigDict" in annotation):
        self.params[arg.arg] = ""
      elif (self.module, arg.arg) in SECTION_PARAMETERS:
        self.params[arg.arg] = SECTION_PARAMETERS[(self.module, arg.arg)]
      else:
        self.params.pop(arg.arg, None)
    self.generic_visit(node)
    self.params = saved

  visit_AsyncFunctionDef = visit_FunctionDef

  def visit_Assign(self, node):
    self.generic_visit(node)
    for target in node.targets:
      if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple) and \
          len(target.elts) == len(node.value.elts):  # `config, pipeline = experiment.config, ...`
        for one, value in zip(target.elts, node.value.elts):
          self._bind(one, value)
      else:
        self._bind(target, node.value)

  def _bind(self, target, value):
    name, parts = _chain(target), _chain(value)
    if not name or len(name) > 2:
      return
    found = parts and self.config_path(parts)
    table, key = (self.params if len(name) == 1 else self.aliases), ".".join(name)
    if found and not any(p in METHODS for p in found[1]):
      table[key] = ".".join(filter(None, [found[0], *found[1]]))
    else:
      table.pop(key, None)  # rebound to something else (`section = dict(section)`)

  def visit_Call(self, node):
    func = node.func
    keyed = node.args and isinstance(node.args[0], ast.Constant)  # `splits.get(split)` looks a name up
    if isinstance(func, ast.Attribute) and func.attr == "get" and keyed:
      parts = _chain(func.value)
      found = parts and self.config_path(parts)
      if found:
        self.gets.append(f"{self.module}:{node.lineno}: {ast.unparse(node)}")
    self.generic_visit(node)

  def visit_Attribute(self, node):
    self._record(node)

  def visit_Subscript(self, node):
    self._record(node)

  def _record(self, node):
    parts = _chain(node)
    found = parts and self.config_path(parts)
    if found:
      fields = []
      for part in found[1]:
        if part in METHODS:
          break
        fields.append(part)
      if fields:
        self.reads.add((".".join(filter(None, [found[0], *fields])), node.lineno))
      return  # the chain's inner nodes are the same read
    self.generic_visit(node)


def scan(paths=SOURCES) -> tuple[dict[str, set[str]], list[str]]:
  """{config path: modules:lines reading it}, and the `.get` calls on config objects."""
  reads, gets = {}, []
  for path in paths:
    module = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    visitor = _Reads(module)
    visitor.reads, visitor.gets = set(), []
    visitor.visit(ast.parse(path.read_text()))
    for field, line in visitor.reads:
      reads.setdefault(field, set()).add(f"{module}:{line}")
    gets += visitor.gets
  return reads, gets


def _paths(node: ConfigDict, prefix: str = "") -> set[str]:
  out = set()
  for key, value in node.items():
    path = f"{prefix}{key}"
    out.add(path)
    if isinstance(value, ConfigDict):
      out |= _paths(value, path + ".")
  return out


def declared_fields() -> set[str]:
  """Every field path that some variant of some config declares."""
  fields = set()
  for name, arg in test_configs.LOADS:
    fields |= _paths(importlib.import_module(f"configs.{name}").get_config(arg))
  return fields


@pytest.fixture(scope="module")
def declared() -> set[str]:
  return declared_fields()


def test_every_field_the_code_reads_is_declared_by_a_config(declared):
  reads, _ = scan()
  assert len(reads) > 50, "the scan lost the config reads"
  undeclared = {field: sorted(where) for field, where in reads.items() if field not in declared}
  assert not undeclared, f"read but declared by no config (declare it in base_config or its owner): {undeclared}"


def test_no_config_field_is_read_with_a_default_of_its_own():
  _, gets = scan()
  assert not gets, "config.get(key, default) states a default base_config already owns; read the attribute:\n" + \
      "\n".join(gets)


def test_functions_taking_a_config_section_are_known():
  """A ConfigDict parameter not named `config` must be listed in SECTION_PARAMETERS, or its reads
  would escape the scan."""
  unknown = []
  for path in SOURCES:
    module = path.relative_to(ROOT).as_posix()
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        for arg in node.args.args + node.args.kwonlyargs:
          annotation = ast.unparse(arg.annotation) if arg.annotation else ""
          if "ConfigDict" in annotation and arg.arg != ROOT_ATTRIBUTE and (module, arg.arg) not in SECTION_PARAMETERS:
            unknown.append(f"{module}: {node.name}({arg.arg}: {annotation})")
  assert not unknown, unknown


@pytest.mark.parametrize("planted,complaint", [
    ("def f(config):\n  return config.optimizer.no_such_field\n", "undeclared"),
    ("class P:\n  def __init__(self, config):\n    self.cfg = config.input\n  def n(self):\n"
     "    return self.cfg.no_such_field\n", "undeclared"),
    ("def f(config):\n  return config.evaluation.get('mode', 'max')\n", "get"),
])
def test_the_scan_sees_a_planted_read(tmp_path, declared, planted, complaint):
  path = tmp_path / "planted.py"
  path.write_text(planted)
  reads, gets = scan([path])
  if complaint == "get":
    assert gets
  else:
    assert {field for field in reads if field not in declared} == {f"{'optimizer' if 'optimizer' in planted else 'input'}"
                                                                   f".no_such_field"}


def test_a_run_saved_before_a_field_was_declared_restores_with_its_default():
  """Experiment.restore completes a saved config.json from base_config: a run trained before
  `optimizer.b1` or the default `evals` entries were declared still predicts."""
  from mmer_jax.train import defaults
  saved = defaults.base_config().to_dict()
  del saved["optimizer"]["b1"], saved["task"]["threshold_step"], saved["input"]["manifest"]
  saved["evaluation"].update(selection_metric="accuracy", mode="max")
  saved["evals"] = {"train_thresholds": {"type": "samsemo_train_thresholds"}}
  config = defaults.complete(saved)
  assert (config.optimizer.b1, config.task.threshold_step, config.input.manifest) == (0.9, 0.005, None)
  assert dict(config.evals.select_best) == dict(type="select_best", split="valid", metric="accuracy", mode="max")
  assert config.evals.train_thresholds.type == "samsemo_train_thresholds"
