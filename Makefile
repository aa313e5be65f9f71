# The two entry points of the README: `make demo` and `make test`. Each creates .venv and
# installs what it needs on first use: the demo only trialstore itself (seconds), the tests
# every extra and the test tool chain.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HASH := $(shell cksum < pyproject.toml | cut -d' ' -f1)
DEMO_STAMP := $(VENV)/.demo-installed-$(HASH)
TEST_STAMP := $(VENV)/.test-installed-$(HASH)
# Four workers: most tests wait on servers, sleeps or child processes, not on the CPU.
PYTEST_ARGS ?= -n 4

.PHONY: demo test lint typecheck check venv clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	rm -f $(VENV)/.demo-installed-*
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.test-installed-* $(VENV)/.demo-installed-*
	touch $@ $(DEMO_STAMP)

venv: $(TEST_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/trialstore demo

lint: $(TEST_STAMP)
	$(BIN)/ruff check trialstore tests bench examples
	$(BIN)/ruff format --check trialstore
	$(BIN)/lint-imports

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

check: lint typecheck

test: check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(TEST_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
