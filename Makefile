# dwp: `make up` runs a local network, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: up test lint bench chaos sim mutants clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

.venv: $(VENV)/.installed

up: .venv
	$(BIN)/dwp up

test: .venv
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: .venv
	$(BIN)/ruff check .

bench: .venv
	$(BIN)/python -m bench

chaos: .venv
	$(BIN)/python -m tests.chaos

SEEDS ?= 5000
sim: .venv
	$(BIN)/python -m tests.simulation --seeds $(SEEDS)

# Every rule mutant against the simulator's stories and seeds; each must be killed.
mutants: .venv
	$(BIN)/python -m tests.mutants

clean:
	rm -rf $(VENV) .dwp .pytest_cache
