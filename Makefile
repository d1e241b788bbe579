# Two entry points for a fresh machine: `make benchmark` and `make test`.
# Each creates .venv on first use. On a CPU-only machine the pinned torch below is a CPU
# build where one is cached locally; GPU users pick their CUDA build, e.g.
#   make benchmark TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
# the benchmark needs the package (+ plots for the CD diagram); the tests also need every extra
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: setup setup-test benchmark test lint format clean

setup: $(RUN_STAMP)
setup-test: $(TEST_STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH)

$(RUN_STAMP): setup.cfg pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e ".[plots]"
	touch $@

$(TEST_STAMP): setup.cfg pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e ".[test,plots,ray,slurm,clinical]"
	touch $@ $(RUN_STAMP)

benchmark: setup
	$(BIN)/mtlbench run

test: setup-test lint
	$(BIN)/python -m pytest

lint: setup-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache
