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

# The nightly risk run on the shipped data: leaves risk.duckdb and reports/<run id>/.
run: $(VENV)/.installed
	$(BIN)/python -m riskengine.cli nightly --replace

# The report test renders the page in headless Chromium (Debian's package).
CHROMIUM := $(shell command -v chromium 2>/dev/null)

test: $(VENV)/.installed-test
ifeq ($(CHROMIUM),)
	(apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 \
		|| echo "chromium could not be installed: the report's browser test will be skipped"
endif
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadscope

bench: $(VENV)/.installed
	$(BIN)/python scripts/bench_sim.py

# stable-baselines3 (and torch) only for the execution benchmark's reference run.
$(VENV)/.installed-rl: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[rl-baselines]'
	touch $@ $(VENV)/.installed

bench-execution: $(VENV)/.installed-rl
	$(BIN)/python scripts/bench_execution.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache reports risk.duckdb
