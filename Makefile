# Backwater: `make run` (main job, headless) and `make test` (full suite) set everything up on a
# fresh machine: a virtualenv in .venv with the pinned dependencies.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: install run test test-fast ui status storm bench clean-data

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

run: install            ## replay the real data through the Dagster daemon and reconcile
	$(BIN)/backwater run

test: install           ## lint + the full test suite, slow end-to-end tests included (what CI runs)
	$(BIN)/ruff check pipeline_defs tests benchmarks
	$(BIN)/pytest

test-fast: install      ## the suite without the tests marked slow
	$(BIN)/pytest -m "not slow"

ui: install             ## the Dagster UI on http://127.0.0.1:3000
	$(BIN)/backwater ui

status: install
	$(BIN)/backwater status

storm: install          ## the storm scenario: calm run vs burst (spill, holds, backfill), compared
	$(BIN)/backwater storm

bench: install          ## benchmarks: ratios against naive baselines measured in the same run
	$(BIN)/python -m benchmarks.bench_spatial
	$(BIN)/python -m benchmarks.bench_storm

clean-data:             ## forget all runtime state under ./data (not a BACKWATER_DATA_DIR elsewhere)
	rm -rf data/landing data/lake data/quarantine data/spill data/storm data/dagster_home data/logs
