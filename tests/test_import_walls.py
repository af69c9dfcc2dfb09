"""The package's walls, checked by parsing imports (ast), so a change that breaks one fails CI.

- models import neither data, train nor the builders (the batch contract is all they share with data;
  plain feature functions such as pooling they may use);
- features import neither models, train nor data (builders and predict share them);
- only train assembles a run (model + preprocessor + checkpoints): nobody else builds one;
- no cycle between mmer_jax's packages through module-level imports (function-level imports are
  the registry's lazy lookups and optional heavy dependencies);
- mmer_jax never imports the builders; what it needs to know about a dataset is in mmer_jax.datasets,
  a leaf (the standard library and itself only), which builders and mmer_jax alike read.
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mmer_jax"


def _modules():
  for path in sorted(PACKAGE.rglob("*.py")):
    yield path, ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path, module: str, top_level_only: bool) -> set[str]:
  tree = ast.parse(path.read_text())
  nodes = tree.body if top_level_only else list(ast.walk(tree))
  if top_level_only:  # `if TYPE_CHECKING:` and try/except blocks at module level count as top level
    nodes = [n for stmt in tree.body for n in ast.walk(stmt)
             if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    nodes += [n for stmt in tree.body if isinstance(stmt, ast.ClassDef) for n in stmt.body
              if isinstance(n, (ast.Import, ast.ImportFrom))]
  found = set()
  for node in nodes:
    if isinstance(node, ast.Import):
      found.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:  # relative import
        parts = module.split(".")[:-node.level] if not path.name == "__init__.py" else module.split(".")[:len(module.split(".")) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
      found.add(base)
      found.update(f"{base}.{alias.name}" for alias in node.names)
  return {name for name in found if name.startswith(("mmer_jax", "tfds_builders"))}


def _all_imported_names(path: Path) -> set[str]:
  """Every module an import statement of `path` names, the standard library and third parties included."""
  names = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and not node.level:
      names.add(node.module or "")
  return names


def _package_of(module: str) -> str:
  parts = module.split(".")
  return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


ALL_IMPORTS = {module: _imports(path, module, top_level_only=False) for path, module in _modules()}
TOP_IMPORTS = {module: _imports(path, module, top_level_only=True) for path, module in _modules()}


def _within(name: str, packages: tuple[str, ...]) -> bool:
  """`name` is one of `packages` or inside one (mmer_jax.datasets is not inside mmer_jax.data)."""
  return any(name == p or name.startswith(p + ".") for p in packages)


def _violations(source_prefix: str, forbidden: tuple[str, ...]) -> list[str]:
  return sorted(f"{module} imports {name}" for module, names in ALL_IMPORTS.items()
                if _within(module, (source_prefix,)) for name in names if _within(name, forbidden))


def test_models_read_only_the_batch_contract():
  assert _violations("mmer_jax.models", ("mmer_jax.data", "mmer_jax.train", "tfds_builders")) == []


def test_mmer_jax_does_not_reach_up_into_the_builders():
  # The builders import mmer_jax (extractors, label schemes, the manifest table), never the reverse:
  # a dataset's names and facts come from mmer_jax.datasets.
  assert _violations("mmer_jax", ("tfds_builders",)) == []


def test_the_datasets_package_is_a_leaf():
  # Anything may read what a dataset is; the datasets package itself reads nothing of the project
  # but the errors, and nothing heavy (no jax, numpy, tfds) at all, so importing it costs nothing.
  modules = [m for m in ALL_IMPORTS if _within(m, ("mmer_jax.datasets",))]
  assert "mmer_jax.datasets.iemocap" in modules
  for module in modules:
    outside = {n for n in ALL_IMPORTS[module] if not _within(n, ("mmer_jax.datasets", "mmer_jax.errors"))}
    assert outside == set(), module
  for path, module in _modules():
    if _within(module, ("mmer_jax.datasets",)):
      roots = {n.split(".")[0] for n in _all_imported_names(path)}
      assert roots <= sys.stdlib_module_names | {"mmer_jax"}, (module, roots - sys.stdlib_module_names)


def test_features_import_neither_models_train_nor_data():
  assert _violations("mmer_jax.features", ("mmer_jax.models", "mmer_jax.train", "mmer_jax.data")) == []


def test_the_batch_contract_and_errors_are_leaves():
  for leaf in ("mmer_jax.batch", "mmer_jax.errors"):
    assert ALL_IMPORTS[leaf] == set(), leaf


def test_only_train_assembles_a_run():
  # Experiment is the one assembly; outside train/ only predict (which restores through it) and
  # nothing in models/data/metrics/features may reach for it or for the checkpoints.
  users = sorted(module for module, names in ALL_IMPORTS.items() if not module.startswith("mmer_jax.train")
                 and any(n.startswith(("mmer_jax.train.experiment", "mmer_jax.train.checkpoint")) for n in names))
  assert users == ["mmer_jax.predict"]


def test_no_package_level_cycle():
  graph: dict[str, set[str]] = {}
  for module, names in TOP_IMPORTS.items():
    source = _package_of(module)
    for name in names:
      target = _package_of(name)
      if target != source and target.startswith("mmer_jax."):
        graph.setdefault(source, set()).add(target)

  def cycle_from(node, path):
    for nxt in sorted(graph.get(node, ())):
      if nxt in path:
        return path[path.index(nxt):] + [nxt]
      found = cycle_from(nxt, path + [nxt])
      if found:
        return found
    return None

  for start in sorted(graph):
    assert cycle_from(start, [start]) is None, " -> ".join(cycle_from(start, [start]))


@pytest.mark.parametrize("source", ["from mmer_jax.data import pipeline\n", "import mmer_jax.train.step\n"])
def test_the_walls_see_a_violation(tmp_path, source):
  """The parser itself: a models module importing data or train is found."""
  path = tmp_path / "bad.py"
  path.write_text(source)
  names = _imports(path, "mmer_jax.models.bad", top_level_only=False)
  assert any(n.startswith(("mmer_jax.data", "mmer_jax.train")) for n in names)
