# Two entry points: `make demo` (the main job) and `make test` (lint, types, tests).
# Each creates .venv and installs what it needs on a fresh Debian machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: setup demo test lint clean graphviz schemas docs

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq graphviz >/dev/null); \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq graphviz >/dev/null; fi; }

setup: $(STAMP) graphviz

demo: setup
	$(BIN)/pathway validate definitions/trd.yaml
	$(BIN)/pathway assess examples/04-two-adequate-failures.json --as-of 2026-06-01
	$(BIN)/pathway demo --out $(OUT)

schemas: setup
	$(BIN)/python tools/gen_schemas.py

docs: setup
	$(BIN)/python tools/gen_docs.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) $(OUT) .mypy_cache .pytest_cache .ruff_cache
