# dwp: `make up` runs a local network, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Two install stamps, each older than pyproject.toml when it changed: `make up` installs
# what running needs; `make test` adds the test tools (pytest, Playwright, Sphinx, MkDocs,
# schemathesis...), and its stamp stands for both.
RUN_STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: up test lint bench chaos sim mutants clean

$(BIN)/python:
	@echo "Creating $(VENV) (the first time takes about a minute)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing dwp into $(VENV)"
	@$(BIN)/pip install -q -e .
	@touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing dwp and its test tools into $(VENV)"
	@$(BIN)/pip install -q -e '.[test]'
	@touch $(RUN_STAMP) $@

.venv: $(TEST_STAMP)

up: $(RUN_STAMP)
	@echo "For the dwp command in another terminal: . $(BIN)/activate (or run $(BIN)/dwp)"
	@$(BIN)/dwp up

test: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

bench: $(TEST_STAMP)
	$(BIN)/python -m bench

chaos: $(TEST_STAMP)
	$(BIN)/python -m tests.chaos

SEEDS ?= 5000
sim: $(TEST_STAMP)
	$(BIN)/python -m tests.simulation --seeds $(SEEDS)

# Every rule mutant against the simulator's stories and seeds; each must be killed.
mutants: $(TEST_STAMP)
	$(BIN)/python -m tests.mutants

clean:
	rm -rf $(VENV) .dwp .pytest_cache
