# campaignd developer entry points. `make demo` and `make test` work from a clean clone.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv test lint typecheck unit demo bench bench-rate reliability-report clean

help:
	@echo "make demo   - set up and send a demo campaign to a local capture SMTP server"
	@echo "make test   - set up and run lint, type checks and the whole test suite"
	@echo "make bench  - throughput benchmark against Postfix's smtp-sink"
	@echo "make bench-rate - does the daemon keep app.message_rate (within 2%, no burst)?"
	@echo "make reliability-report - run the fault/crash/hostile suites and write docs/reliability.md"

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "campaignd needs Python >= 3.11 (python3.11 or newer on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,fast]'
	@touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check campaignd tests migrations bench scripts
	$(BIN)/ruff format --check campaignd tests migrations bench scripts
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest tests/unit -q

# The suite spends most of its time waiting on CLI subprocesses, daemons and servers, so it runs
# on several processes (TEST_JOBS=0 runs it in one); every worker has its own databases and ports.
TEST_JOBS ?= auto
test: lint typecheck
	$(BIN)/pytest -q -n $(TEST_JOBS) --maxprocesses=4

demo: venv
	$(BIN)/python -m campaignd.devtools.demo

bench: venv
	$(BIN)/python -m bench.run

bench-rate: venv
	$(BIN)/python -m bench.rate

reliability-report: venv
	$(BIN)/python scripts/reliability_report.py

clean:
	rm -rf $(VENV) .demo .mypy_cache .pytest_cache .ruff_cache
