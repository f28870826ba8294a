# cohortflow — the README's commands. Needs only python3.11, pip and make.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install demo test lint typecheck check clean audit

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	touch $@

## install: the locked environment in .venv (uv, Airflow, DuckDB, ...)
install: $(VENV)/.installed

## demo: install, then run the whole pipeline through Airflow on include/examples
demo: install
	bash scripts/demo.sh

## test: install, then run the test suite
test: install
	$(VENV)/bin/pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check include dags plugins tests

typecheck: install
	$(VENV)/bin/mypy

check: lint typecheck test

clean:
	rm -rf .demo .airflow $(VENV) $(TOOLS)

## audit: known vulnerabilities with a fix in the locked dependencies (pip-audit)
audit: install
	$(VENV)/bin/python scripts/audit.py
