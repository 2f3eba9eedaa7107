# Two commands do everything on a fresh Debian machine with Python 3.11:
#   make serve   set up, then run the server on embedded defaults
#   make test    set up, then lint, type-check and run the whole suite
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= $(shell command -v python3.11 || command -v python3)
STAMP := $(VENV)/.setup-stamp

.PHONY: setup serve test lint typecheck pytest bench clean

setup: $(STAMP)
	@$(BIN)/proctor models fetch >/dev/null
	@$(BIN)/proctor content demo >/dev/null

$(STAMP): pyproject.toml scripts/setup_system.sh
	bash scripts/setup_system.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

serve: setup
	$(BIN)/proctor serve $(ARGS)

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest $(PYTEST_ARGS)

test: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/proctor bench inference --json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
