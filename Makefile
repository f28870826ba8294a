# cohortflow — the README's commands. Needs only python3.11, pip and make.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install demo test lint typecheck check clean airflow audit stack stack-down

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# --compile-bytecode: every package's modules are compiled once, here, not again by each
# process where bytecode is not written (PYTHONDONTWRITEBYTECODE, a read-only venv).
$(VENV)/.installed: $(UV) pyproject.toml uv.lock Makefile
	$(UV) sync --frozen --quiet --compile-bytecode
	touch $@

## install: the locked environment in .venv (uv, Airflow, DuckDB, ...)
install: $(VENV)/.installed

## demo: install, then run the whole pipeline through Airflow on include/examples
demo: install
	bash scripts/demo.sh

## airflow: install, then `airflow standalone` with the DAGs, plugins, pools and connections
##          at http://127.0.0.1:8080 (no login; Ctrl-C stops it)
airflow: install
	bash scripts/airflow.sh

## stack: the production topology natively (CeleryExecutor on the local PostgreSQL and Redis,
##        two Celery workers, moto S3 landing bucket, provider sandbox); stack-down stops it
stack: install
	bash scripts/stack.sh start

stack-down:
	bash scripts/stack.sh stop

## test: install, then run the test suite
test: install
	@bash scripts/ensure_chromium.sh
	$(VENV)/bin/pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check include dags plugins tests

typecheck: install
	$(VENV)/bin/mypy

check: lint typecheck test

clean:
	rm -rf .demo .airflow $(VENV) $(PROD_VENV) $(TOOLS)

## audit: known vulnerabilities with a fix in the locked dependencies (pip-audit)
audit: install
	$(VENV)/bin/python scripts/audit.py

# The product's dependencies only (no dev group, so no pandas): what a deployment runs.
PROD_VENV := .venv-prod
$(PROD_VENV)/.installed: $(UV) pyproject.toml uv.lock Makefile
	UV_PROJECT_ENVIRONMENT=$(PROD_VENV) $(UV) sync --frozen --quiet --no-dev --compile-bytecode
	touch $@

.PHONY: bench
## bench: cohortflow (installed as deployed) vs a naive pandas baseline, a stronger polars peer
##        and DuckDB's CSV-to-Parquet copy on 100k, 1M, 10M rows (≤ 15 min)
bench: install $(PROD_VENV)/.installed
	COHORTFLOW_BENCH_CLI=$(PROD_VENV)/bin/cohortflow $(VENV)/bin/python -m benchmarks.run

.PHONY: soak
## soak: the long reliability run: 100 SIGKILLs of dispatch over 20,000 recipients with every
##       provider fault on, plus the make-test reliability tests (several minutes)
soak: install
	COHORTFLOW_SOAK=1 $(VENV)/bin/pytest -q -p no:cacheprovider -s tests/reliability
