# Two entry points: `make demo` (the main job) and `make test` (lint, types, tests).
# Each creates .venv and installs what it needs on a fresh Debian machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: setup demo test lint clean graphviz chromium schemas docs

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq graphviz >/dev/null); \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq graphviz >/dev/null; fi; }

# Debian's Chromium for the browser tests (Playwright drives it by path: no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq chromium >/dev/null); \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

setup: $(STAMP) graphviz

# The main job: the demo clinic (built by `pathway demo` if $(OUT)/demo.db is missing) served
# on http://127.0.0.1:$(PORT)/ with one account per role; `pathway demo --out DIR` is the batch job.
PORT ?= 8000
demo: setup
	$(BIN)/pathway validate definitions/trd.yaml
	$(BIN)/python tools/web_demo.py --out $(OUT) --port $(PORT)

schemas: setup
	$(BIN)/python tools/gen_schemas.py

docs: setup
	$(BIN)/python tools/gen_docs.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint chromium
	$(BIN)/pytest

clean:
	rm -rf $(VENV) $(OUT) .mypy_cache .pytest_cache .ruff_cache
