# The two entry points of the README: `make demo` and `make test`. Each creates .venv and
# installs what it needs on first use: the demo only trialstore itself (seconds), the tests
# every extra and the test tool chain. `make docs` builds the documentation site into site/
# (strict: a warning fails it; `make test` builds it too), `make docs-serve` previews it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HASH := $(shell cksum < pyproject.toml | cut -d' ' -f1)
DEMO_STAMP := $(VENV)/.demo-installed-$(HASH)
TEST_STAMP := $(VENV)/.test-installed-$(HASH)
DOCS_STAMP := $(VENV)/.docs-installed-$(HASH)
# Material for MkDocs prints a banner about MkDocs 2.0 on every build unless this is set.
DOCS_ENV := NO_MKDOCS_2_WARNING=1
# Four workers: most tests wait on servers, sleeps or child processes, not on the CPU.
PYTEST_ARGS ?= -n 4

.PHONY: demo test lint typecheck check venv clean bench docs docs-serve

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	rm -f $(VENV)/.demo-installed-*
	touch $@

$(DOCS_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	rm -f $(VENV)/.docs-installed-*
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.test-installed-* $(VENV)/.demo-installed-* $(VENV)/.docs-installed-*
	touch $@ $(DEMO_STAMP) $(DOCS_STAMP)

venv: $(TEST_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/trialstore demo

lint: $(TEST_STAMP)
	$(BIN)/ruff check trialstore tests bench examples
	$(BIN)/ruff format --check trialstore
	$(BIN)/lint-imports

# mypy --strict over the files [tool.mypy] names in pyproject.toml: trialstore, tests, bench.
typecheck: $(TEST_STAMP)
	$(BIN)/mypy

check: lint typecheck

test: check docs
	$(BIN)/python -m pytest $(PYTEST_ARGS)

docs: $(DOCS_STAMP)
	$(DOCS_ENV) $(BIN)/mkdocs build --strict

docs-serve: $(DOCS_STAMP)
	$(DOCS_ENV) $(BIN)/mkdocs serve

bench: $(TEST_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build site *.egg-info
