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
# The demo campaigns name the connection `sandbox_provider`; its key and CometChat app id are
# the sandbox's defaults.
export AIRFLOW_CONN_SANDBOX_PROVIDER='{"conn_type": "http", "password": "sandbox-key", "extra": {"app_id": "sandbox-app"}}'
export COHORTFLOW_PROVIDER_SANDBOX_PROVIDER_KEY=sandbox-key
export COHORTFLOW_PROVIDER_SANDBOX_PROVIDER_APP_ID=sandbox-app
SANDBOX_PORT=18911
BIN="$ROOT/.venv/bin"

echo "==> fresh demo area in .demo/ (landing, warehouse, archive)"
rm -rf "$DEMO"
mkdir -p "$DEMO/landing"
cp -r include/examples/landing/. "$DEMO/landing/"

echo "==> Airflow metadata database (SQLite in .airflow/) and pools"
"$BIN/airflow" db migrate > "$DEMO/airflow-migrate.log" 2>&1
"$BIN/airflow" pools set warehouse_writer 1 "cohortflow catalog writers (1 slot)" > /dev/null
for kind in sarvam cometchat messaging_csv nexus http_json; do
    "$BIN/airflow" pools set "provider_$kind" 2 "concurrent $kind uploads" > /dev/null
done

echo "==> provider sandbox on 127.0.0.1:$SANDBOX_PORT (the demo campaigns submit to it)"
"$BIN/cohortflow" sandbox --port "$SANDBOX_PORT" --db "$DEMO/sandbox.duckdb" \
    > "$DEMO/sandbox.log" 2>&1 &
SANDBOX_PID=$!
trap 'kill $SANDBOX_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    kill -0 "$SANDBOX_PID" 2>/dev/null || {
        echo "the sandbox did not start (is port $SANDBOX_PORT in use?); see $DEMO/sandbox.log"
        exit 1; }
    curl -s -o /dev/null "http://127.0.0.1:$SANDBOX_PORT/_sandbox/stats" && break
    sleep 0.2
done

echo "==> airflow dags test cohort_ingest"
"$BIN/airflow" dags test cohort_ingest > "$DEMO/cohort_ingest.log" 2>&1 || {
    echo "cohort_ingest failed; log: $DEMO/cohort_ingest.log"; tail -40 "$DEMO/cohort_ingest.log"; exit 1; }

echo "==> airflow dags test campaign_dispatch"
"$BIN/airflow" dags test campaign_dispatch > "$DEMO/campaign_dispatch.log" 2>&1 || {
    echo "campaign_dispatch failed; log: $DEMO/campaign_dispatch.log"
    tail -40 "$DEMO/campaign_dispatch.log"; exit 1; }

echo
echo "Cohorts:"
"$BIN/cohortflow" cohorts --warehouse "$DEMO/warehouse"
echo
echo "Dispatch (sent now / waiting for the next allowed window):"
"$BIN/cohortflow" campaigns --warehouse "$DEMO/warehouse"
echo
echo "Sandbox received: $(curl -s "http://127.0.0.1:$SANDBOX_PORT/_sandbox/stats")"
echo
echo "Query the catalog: $BIN/python -c \"import duckdb; print(duckdb.connect('$DEMO/warehouse/cohortflow.duckdb', read_only=True).sql('select * from cohorts'))\""
echo "Airflow log: $DEMO/cohort_ingest.log"
