# Every target makes .venv itself; nothing needs to be installed by hand first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
# The tools group's own environment: the tools users put embeddings into (tests/tools).
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed

.PHONY: demo test lint typecheck unit install-check tools-check tools-table bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[all,test]'
	touch $(STAMP)

# The demo needs the core alone (httpx): no framework, no test toolchain.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python examples/quickstart.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Workers: many tests wait (servers' delays, timeouts, subprocesses), so three workers keep two
# cores busy. loadfile gives each test file to one worker: its module fixtures (emulators, a
# built wheel, a Ray cluster) are made once, and one file's Ray tests never run at once.
# (Not xdist_group: pytest-xdist 3.8 groups by renaming node ids, which pytest 9 ignores.)
PYTEST_WORKERS ?= 3
unit: $(STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck unit

# A new user's first hour, in fresh virtual environments with one extra each (needs PyPI).
# Standard library only: it needs no .venv of its own.
install-check:
	$(PYTHON) tests/install_check.py

# Made afresh whenever the dependency lists change (needs PyPI).
$(TOOLS_STAMP): pyproject.toml tests/tools/requirements.txt
	rm -rf $(TOOLS_VENV)
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install --quiet -e '.[langchain,llama-index,chroma,haystack]' -r tests/tools/requirements.txt
	touch $(TOOLS_STAMP)

# Each adapter in FAISS, Chroma, Qdrant, caches, semantic splitters and ingestion pipelines.
# `make test` leaves tests/tools out (pyproject's addopts); named here, pytest runs it.
tools-check: $(TOOLS_STAMP)
	$(TOOLS_VENV)/bin/python -m pytest -q tests/tools

# benchmarks/results/tools.md: requests per step in those tools, ours and the OpenAI classes'.
tools-table: $(TOOLS_STAMP)
	$(TOOLS_VENV)/bin/python benchmarks/tools_table.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/voyage_shapes.py

clean:
	rm -rf $(VENV) $(TOOLS_VENV) .pytest_cache .mypy_cache .ruff_cache build dist
