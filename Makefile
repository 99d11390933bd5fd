# Two user-facing targets: `make run` and `make test`. Each creates .venv when it
# is missing and installs what it needs, so a fresh machine with only python3
# and make is enough.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench bench-execution clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files re-run the install only when pyproject.toml changes.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/python -m riskengine.cli demo

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2

bench: $(VENV)/.installed
	$(BIN)/python scripts/bench_sim.py

# stable-baselines3 (and torch) only for the execution benchmark's reference run.
$(VENV)/.installed-rl: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[rl-baselines]'
	touch $@ $(VENV)/.installed

bench-execution: $(VENV)/.installed-rl
	$(BIN)/python scripts/bench_execution.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
