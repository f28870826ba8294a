#!/usr/bin/env bash
# `make airflow`: the project's DAGs and plugins in `airflow standalone` at http://127.0.0.1:8080
# (SQLite metadata DB in .airflow/, no login: the simple auth manager makes everyone admin).
# Pools, connections and variables come from airflow_settings.yaml via scripts/airflow_init.py.
# The landing area, warehouse and campaigns default to ./landing, ./warehouse and
# ./include/campaigns; export COHORTFLOW_LANDING / COHORTFLOW_WAREHOUSE / COHORTFLOW_CAMPAIGNS
# to use others; AIRFLOW_PORT changes the port and COHORTFLOW_AIRFLOW_HOME the Airflow home.
# Ctrl-C stops every component.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PORT="${AIRFLOW_PORT:-8080}"
# standalone starts its components as `airflow ...` from PATH: use the project's.
export PATH="$ROOT/.venv/bin:$PATH"
export AIRFLOW_HOME="${COHORTFLOW_AIRFLOW_HOME:-$ROOT/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$PORT/execution/"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
export COHORTFLOW_LANDING="${COHORTFLOW_LANDING:-$ROOT/landing}"
export COHORTFLOW_WAREHOUSE="${COHORTFLOW_WAREHOUSE:-$ROOT/warehouse}"
export COHORTFLOW_CAMPAIGNS="${COHORTFLOW_CAMPAIGNS:-$ROOT/include/campaigns}"
mkdir -p "$AIRFLOW_HOME" "$COHORTFLOW_LANDING" "$COHORTFLOW_WAREHOUSE"

echo "==> metadata database, pools, connections and variables ($AIRFLOW_HOME)"
"$ROOT/.venv/bin/python" scripts/airflow_init.py

echo "==> airflow standalone on http://127.0.0.1:$PORT (Cohorts page: http://127.0.0.1:$PORT/plugin/cohorts)"
echo "    drop files into $COHORTFLOW_LANDING/<campaign_id>/ or trigger cohort_ingest with a file"
exec "$ROOT/.venv/bin/airflow" standalone
