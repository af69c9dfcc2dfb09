"""The package's walls, checked by parsing imports (ast), so a change that breaks one fails CI.

- models import neither data, train nor the builders (the batch contract is all they share with data;
  plain feature functions such as pooling they may use);
- features import neither models, train nor data (builders and predict share them);
- only train assembles a run (model + preprocessor + checkpoints): nobody else builds one;
- data does not import models, and train imports models only where it assembles the model
  (experiment.py); whatever both sides need of a pretrained checkpoint folder comes from the one
  reader, `mmer_jax.checkpoint_folder`, a leaf that nobody else duplicates (no other module opens a
  folder's files or calls `from_pretrained`);
- no cycle between mmer_jax's packages through module-level imports (function-level imports are
  the registry's lazy lookups and optional heavy dependencies);
- mmer_jax never imports the builders; what it needs to know about a dataset is in mmer_jax.datasets,
  a leaf (the standard library and itself only), which builders and mmer_jax alike read;
- training and its validation metrics load none of scikit-learn, scipy, pandas, matplotlib, cv2
  (checked in a fresh interpreter, since those come in through third-party imports too).
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


READER = "mmer_jax.checkpoint_folder"
# What a checkpoint folder holds besides config.json; only the reader names these files.
FOLDER_FILES = ("flax_model.msgpack", "model.safetensors", "pytorch_model.bin", "modules.json", "1_Pooling",
                "sentence_bert_config.json", "tokenizer_config.json", "tokenizer.json", "vocab.txt")


def test_data_does_not_import_models():
  # Preprocessors take a checkpoint's tokenizer and max length from the reader, not from models.
  assert _violations("mmer_jax.data", ("mmer_jax.models",)) == []


def test_train_imports_models_only_to_assemble_the_model():
  # experiment.py builds the model from the registry and sets its compute dtype; loading pretrained
  # weights (train/pretrained_weights.py) needs only the reader.
  users = sorted(module for module, names in ALL_IMPORTS.items() if module.startswith("mmer_jax.train")
                 and any(n.startswith("mmer_jax.models") for n in names))
  assert users == ["mmer_jax.train.experiment"]
  assert not any(n.startswith("mmer_jax.models") for n in ALL_IMPORTS["mmer_jax.train.pretrained_weights"])


def _third_party_imports(tree: ast.AST) -> set[str]:
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      found.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and not node.level:
      found.add(node.module or "")
  return {name for name in found if not name.startswith(("mmer_jax", "__future__"))}


def test_the_checkpoint_folder_reader_is_a_leaf():
  assert ALL_IMPORTS[READER] <= {"mmer_jax.errors", "mmer_jax.errors.UserError"}
  tree = ast.parse((PACKAGE / "checkpoint_folder.py").read_text())
  top = ast.Module(body=[s for s in tree.body if not isinstance(s, (ast.FunctionDef, ast.ClassDef))], type_ignores=[])
  assert _third_party_imports(top) <= {"functools", "json", "pathlib", "typing", "numpy"}
  lazy = {name.split(".")[0] for name in _third_party_imports(tree) - _third_party_imports(top)}
  assert lazy <= {"transformers", "safetensors", "flax"}
  assert {n for n in _third_party_imports(tree) if n.startswith("flax")} <= {"flax.serialization"}


def _code_strings(tree: ast.AST) -> list[str]:
  """String constants that are not docstrings."""
  docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
  return [node.value for node in ast.walk(tree)
          if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def _opens_a_checkpoint_folder(path: Path) -> list[str]:
  tree = ast.parse(path.read_text())
  found = [f"calls .{node.attr}" for node in ast.walk(tree)
           if isinstance(node, ast.Attribute) and node.attr == "from_pretrained"]
  found += [f"imports {name}" for name in _third_party_imports(tree) if name.startswith("safetensors")]
  found += [f"imports {alias.name} from {node.module}" for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("transformers")
            for alias in node.names if alias.name.startswith("Auto")]
  found += [f"names {name!r}" for text in _code_strings(tree) for name in FOLDER_FILES if name in text]
  return found


def test_only_the_reader_opens_a_checkpoint_folder():
  sources = [p for p in sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "tfds_builders").rglob("*.py"))
             if not p.name.endswith("_test.py") and p != PACKAGE / "checkpoint_folder.py"]
  offenders = {str(p.relative_to(ROOT)): found for p in sources if (found := _opens_a_checkpoint_folder(p))}
  assert offenders == {}


def test_transformers_is_imported_only_by_the_reader_and_model_definitions():
  # Model definitions: mmer_jax/models, and the frozen feature extractor's transformers Flax model.
  allowed = (READER, "mmer_jax.models.", "mmer_jax.features.text_encoder")
  users = sorted(module for path, module in _modules() if not module.startswith(allowed)
                 and any(n.split(".")[0] in ("transformers", "safetensors")
                         for n in _third_party_imports(ast.parse(path.read_text()))))
  assert users == []


@pytest.mark.parametrize("source", [
    "from transformers import AutoTokenizer\n", "x = AutoTokenizer.from_pretrained(folder)\n",
    "import safetensors.numpy\n", "modules = folder / 'modules.json'\n"])
def test_the_folder_scan_sees_a_violation(tmp_path, source):
  path = tmp_path / "bad.py"
  path.write_text('"""Docstrings may name flax_model.msgpack."""\n' + source)
  assert _opens_a_checkpoint_folder(path)


def test_the_folder_scan_ignores_docstrings(tmp_path):
  path = tmp_path / "good.py"
  path.write_text('"""Reads modules.json through the reader."""\n\ndef f():\n  """from_pretrained, vocab.txt."""\n')
  assert _opens_a_checkpoint_folder(path) == []


@pytest.mark.parametrize("source", ["from mmer_jax.data import pipeline\n", "import mmer_jax.train.step\n"])
def test_the_walls_see_a_violation(tmp_path, source):
  """The parser itself: a models module importing data or train is found."""
  path = tmp_path / "bad.py"
  path.write_text(source)
  names = _imports(path, "mmer_jax.models.bad", top_level_only=False)
  assert any(n.startswith(("mmer_jax.data", "mmer_jax.train")) for n in names)


# What a run holds before its first step (issue 29): training and its validation metrics load none
# of these; the report writer (pandas, matplotlib), TF-IDF features (scikit-learn) and video decoding
# (cv2) load them when they run.
NOT_FOR_TRAINING = ("sklearn", "scipy", "pandas", "matplotlib", "cv2")


def _loaded_by(statement: str) -> list[str]:
  import subprocess  # noqa: PLC0415
  code = (f"import sys\n{statement}\n"
          f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(NOT_FOR_TRAINING)!r})))")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
  return out.stdout.split()


def test_training_and_its_validation_metrics_leave_the_report_libraries_unloaded():
  statement = ("from mmer_jax.train import trainer\n"
               "from mmer_jax.metrics import classification, evaluate, multilabel, numpy_metrics, regression")
  assert _loaded_by(statement) == []


def test_the_import_check_sees_a_heavy_import():
  assert _loaded_by("import mmer_jax.metrics.report") == ["matplotlib", "pandas"]
