"""One home per dataset: the facts in mmer_jax.datasets are the builders' facts, and nobody restates them.

- the builder registry (`tfds_builders.builder_names()`) and the datasets package name the same
  datasets, and each builder has the configs and the manual download its dataset module states;
- no emotion order, label-code list, language list or column list of a dataset is written as a
  literal outside `mmer_jax/datasets/` (scanning the source with ast), so it cannot drift;
- one spelling per dataset: CMU-MOSEI is "cmu_mosei" in the code, never "mosei".
"""

import ast
from pathlib import Path

import pytest

from mmer_jax import datasets
from mmer_jax.datasets import cmu_mosei, iemocap, samsemo

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "mmer_jax" / "datasets"
# Code that must read the facts. Tests may state expected values, and benchmarks draw sample codes
# for synthetic records, so neither is scanned.
SCANNED = ("mmer_jax", "tfds_builders", "configs", "launch.py")

# Every ordered list of names the datasets package owns (splits are generic words, left out).
FACTS = {
    "iemocap.CODES": iemocap.CODES,
    "iemocap.VOTE_CATEGORIES": iemocap.VOTE_CATEGORIES,
    **{f"iemocap.SCHEME_CLASSES[{k}]": v for k, v in iemocap.SCHEME_CLASSES.items()},
    "samsemo.EMOTIONS": samsemo.EMOTIONS,
    "samsemo.LANGUAGES": samsemo.LANGUAGES,
    "samsemo.TSV_COLUMNS": samsemo.TSV_COLUMNS,
    "cmu_mosei.LABEL_NAMES": cmu_mosei.LABEL_NAMES,
    "cmu_mosei.EMOTIONS": cmu_mosei.EMOTIONS,
}


def _sources():
  for entry in SCANNED:
    path = ROOT / entry
    for file in ([path] if path.is_file() else sorted(path.rglob("*.py"))):
      if HOME not in file.parents and not file.name.endswith("_test.py"):
        yield file


def _string_sequences(tree: ast.AST):
  """(line, names) of every tuple or list literal made only of 3 or more string constants."""
  for node in ast.walk(tree):
    if isinstance(node, (ast.Tuple, ast.List)) and len(node.elts) >= 3 and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
      yield node.lineno, tuple(e.value for e in node.elts)


def restated_facts(tree: ast.AST) -> list[str]:
  """Literals whose names all belong to one fact of the datasets package (a copy, a reordering or a
  subset of an emotion order, a code list, the tsv columns, ...)."""
  found = []
  for line, names in _string_sequences(tree):
    facts = [fact for fact, values in FACTS.items() if set(names) <= set(values)]
    if facts:
      found.append(f"line {line}: {names} restates {' or '.join(facts)}")
  return found


def test_builder_registry_names_the_datasets_package_names():
  import tfds_builders
  assert tfds_builders.builder_names() == list(datasets.NAMES)


@pytest.mark.parametrize("name", datasets.NAMES)
def test_each_builder_has_the_configs_and_download_its_dataset_states(name):
  import tfds_builders
  builder = tfds_builders.builder_class(name)
  dataset = datasets.DATASETS[name]
  assert tuple(c.name for c in builder.BUILDER_CONFIGS) == dataset.configs
  assert bool(builder.MANUAL_DOWNLOAD_INSTRUCTIONS) == dataset.manual_download


def test_no_dataset_fact_is_written_outside_the_datasets_package():
  found = [f"{file.relative_to(ROOT)} {hit}" for file in _sources()
           for hit in restated_facts(ast.parse(file.read_text()))]
  assert found == []


@pytest.mark.parametrize("source", [
    'EMOTIONS = ("anger", "disgust", "fear", "happy", "sad", "surprise")\n',
    'CLASS_NAMES = ["ang", "hap", "neu", "sad"]\n',
    'x = ("sadness", "anger", "neutral")\n',
])
def test_the_scan_sees_a_restated_fact(source):
  assert restated_facts(ast.parse(source))


def test_cmu_mosei_has_one_spelling():
  found = [f"{file.relative_to(ROOT)}:{node.lineno}" for file in _sources()
           for node in ast.walk(ast.parse(file.read_text()))
           if isinstance(node, ast.Constant) and node.value == "mosei"]
  assert found == []


def test_needs_manual_download():
  assert not datasets.needs_manual_download("synthetic_mosei")
  assert datasets.needs_manual_download("iemocap") and datasets.needs_manual_download("not_ours")


def test_a_preprocessor_reads_only_modalities_its_dataset_offers():
  from mmer_jax.data.preprocess import late_fusion
  for dataset, features in late_fusion.FEATURES.items():
    assert set(features) <= set(datasets.DATASETS[dataset].modalities), dataset
