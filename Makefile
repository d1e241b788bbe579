# Two entry points for a fresh machine: `make benchmark` and `make test`.
# Each creates .venv on first use. On a CPU-only machine the pinned torch below is a CPU
# build where one is cached locally; GPU users pick their CUDA build, e.g.
#   make benchmark TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
EXTRAS ?= test,plots,ray,slurm
BIN := $(VENV)/bin
STAMP := $(VENV)/.mtlbench-installed

.PHONY: setup benchmark test lint format clean

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

benchmark: setup
	$(BIN)/mtlbench run

test: setup lint
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache
