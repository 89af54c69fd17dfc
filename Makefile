# Two commands: `make run` (the pipeline on the embedded default) and `make test` (the whole suite).
# Each creates or refreshes .venv from the pinned requirement files; a second call is a no-op.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)

.PHONY: run test lint unit bench venv dev-venv checkov-venv clean query

$(VENV)/.runtime-stamp: requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev-stamp: $(VENV)/.runtime-stamp requirements-dev.txt
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# checkov installs its own fork of hcl2 under the same import name as python-hcl2,
# so it lives in a venv of its own.
$(CHECKOV_VENV)/.stamp: requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

venv: $(VENV)/.runtime-stamp
dev-venv: $(VENV)/.dev-stamp
checkov-venv: $(CHECKOV_VENV)/.stamp

run: $(VENV)/.runtime-stamp
	@bash scripts/run_collection.sh $(if $(TIMESTAMP),"$(TIMESTAMP)")

# The collected data without SQL: make query ARGS='best --count 10' (see scripts/query.py -h).
query: $(VENV)/.runtime-stamp
	@$(BIN)/python scripts/query.py $(ARGS)

lint: $(VENV)/.dev-stamp
	$(BIN)/ruff check .
	$(BIN)/shellcheck -x scripts/*.sh scripts/lib/*.sh .ci/run $(wildcard bench/run_all)

unit: $(VENV)/.dev-stamp $(CHECKOV_VENV)/.stamp
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q $(PYTEST_ARGS)

test: lint unit

bench: $(VENV)/.dev-stamp
	@bash bench/run_all

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache .hypothesis
