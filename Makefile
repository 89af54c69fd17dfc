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

# TIMESTAMP as one single-quoted shell word, whatever it contains (the script validates it).
RUN_ARGS = $(if $(TIMESTAMP),'$(subst ','\'',$(TIMESTAMP))')

# `make run` passes run_collection.sh's exit status through: 0 ok, 1 the run failed, 2 bad usage or input.
# GNU make itself exits 2 for any failed recipe and 1 only in question mode (-q) ("The exit status of make is
# always one of three values", https://www.gnu.org/software/make/manual/html_node/Running.html, observed
# 2026-12-02). So when `run` is the only goal (and not a dry run), the venv and the script run while this
# file is read: the script's log (stderr) streams as usual, its summary (stdout) is printed when it ends, and
# its status becomes make's: 1 through question mode with nothing left to do, anything else through $(error).
ifeq ($(MAKECMDGOALS)|$(findstring n,$(firstword -$(MAKEFLAGS))),run|)
RUN_OUT := $(shell mktemp "$${TMPDIR:-/tmp}/spotlake-make-run.XXXXXX")
RUN_STATUS := $(shell if $(MAKE) --no-print-directory -s venv >&2; then \
	bash scripts/run_collection.sh $(RUN_ARGS) >$(RUN_OUT); echo $$?; else echo venv; fi)
RUN_SUMMARY := $(file <$(RUN_OUT))
$(shell rm -f $(RUN_OUT))
$(if $(RUN_SUMMARY),$(info $(RUN_SUMMARY)))
ifeq ($(RUN_STATUS),1)
MAKEFLAGS += -q
else ifneq ($(RUN_STATUS),0)
$(if $(filter venv,$(RUN_STATUS)),$(error make venv failed; see above))
$(error scripts/run_collection.sh exited with $(RUN_STATUS)$(if $(filter 2,$(RUN_STATUS)), (bad usage or input)))
endif
run:
	@:
else
run: $(VENV)/.runtime-stamp
	@bash scripts/run_collection.sh $(RUN_ARGS)
endif

# The collected data without SQL: make query ARGS='best --count 10' (see scripts/query.py -h).
query: $(VENV)/.runtime-stamp
	@$(BIN)/python scripts/query.py $(ARGS)

lint: $(VENV)/.dev-stamp
	$(BIN)/ruff check .
	$(BIN)/shellcheck -x scripts/*.sh scripts/lib/*.sh .ci/run $(wildcard bench/run_all)

unit: $(VENV)/.dev-stamp $(CHECKOV_VENV)/.stamp
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q $(PYTEST_ARGS)

# The two virtualenvs install side by side (pip is CPU-bound: about 35 s less on 2 cores), then the suite.
test:
	@$(MAKE) --no-print-directory -j2 dev-venv checkov-venv
	@$(MAKE) --no-print-directory lint unit

bench: $(VENV)/.dev-stamp
	@bash bench/run_all

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache .hypothesis
