#!/usr/bin/env bash
# `make demo`: run cohort_ingest through Airflow (SQLite metadata DB inside the project) on the
# sample files of include/examples, then print one line per cohort and where the outputs are.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEMO="$ROOT/.demo"
export AIRFLOW_HOME="$ROOT/.airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING
export COHORTFLOW_LANDING="$DEMO/landing"
export COHORTFLOW_WAREHOUSE="$DEMO/warehouse"
export COHORTFLOW_CAMPAIGNS="$ROOT/include/campaigns"
BIN="$ROOT/.venv/bin"

echo "==> fresh demo area in .demo/ (landing, warehouse, archive)"
rm -rf "$DEMO"
mkdir -p "$DEMO/landing"
cp -r include/examples/landing/. "$DEMO/landing/"

echo "==> Airflow metadata database (SQLite in .airflow/) and pools"
"$BIN/airflow" db migrate > "$DEMO/airflow-migrate.log" 2>&1
"$BIN/airflow" pools set warehouse_writer 1 "cohortflow catalog writers (1 slot)" > /dev/null

echo "==> airflow dags test cohort_ingest"
"$BIN/airflow" dags test cohort_ingest > "$DEMO/cohort_ingest.log" 2>&1 || {
    echo "cohort_ingest failed; log: $DEMO/cohort_ingest.log"; tail -40 "$DEMO/cohort_ingest.log"; exit 1; }

echo
"$BIN/cohortflow" cohorts --warehouse "$DEMO/warehouse"
echo
echo "Query the catalog: $BIN/python -c \"import duckdb; print(duckdb.connect('$DEMO/warehouse/cohortflow.duckdb', read_only=True).sql('select * from cohorts'))\""
echo "Airflow log: $DEMO/cohort_ingest.log"
