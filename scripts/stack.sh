#!/usr/bin/env bash
# `make stack` / `make stack-down`: the production topology, natively, for tests and trials.
#
#   scripts/stack.sh start    Airflow (CeleryExecutor; metadata DB and Celery results in the local
#                             PostgreSQL, broker in the local Redis): api-server, scheduler,
#                             dag-processor, triggerer, two Celery workers (worker1, worker2);
#                             moto's S3 server on loopback (the landing bucket); the provider
#                             sandbox. Pools and connections: airflow_settings.yaml (through
#                             scripts/airflow_init.py) and AIRFLOW_CONN_COHORTFLOW_S3.
#   scripts/stack.sh stop     stop everything started by `start` (pids in .stack/pids/)
#   scripts/stack.sh status   what runs, and where
#   scripts/stack.sh env      the environment to talk to the stack: eval "$(scripts/stack.sh env)"
#
# Settings (environment, defaults in brackets): STACK_PG_URL [postgresql+psycopg2://postgres@
# 127.0.0.1:5432/cohortflow_airflow], STACK_REDIS_URL [redis://127.0.0.1:6379/0], STACK_API_PORT
# [8280], STACK_S3_PORT [9100], STACK_SANDBOX_PORT [8900], STACK_BUCKET [cohortflow],
# STACK_WORKER_CONCURRENCY [2], STACK_FERNET_KEY [a fixed test key]. Logs in .stack/logs/, the
# warehouse in .stack/warehouse/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STACK="$ROOT/.stack"
BIN="$ROOT/.venv/bin"

PG_URL=${STACK_PG_URL:-postgresql+psycopg2://postgres@127.0.0.1:5432/cohortflow_airflow}
REDIS_URL=${STACK_REDIS_URL:-redis://127.0.0.1:6379/0}
API_PORT=${STACK_API_PORT:-8280}
S3_PORT=${STACK_S3_PORT:-9100}
SANDBOX_PORT=${STACK_SANDBOX_PORT:-8900}
BUCKET=${STACK_BUCKET:-cohortflow}
CONCURRENCY=${STACK_WORKER_CONCURRENCY:-2}
# A fixed Fernet key: the metadata database outlives .stack/ (a fresh clone reuses it), and
# connections encrypted with one key cannot be read with another. A test stack, not a secret.
FERNET_KEY=${STACK_FERNET_KEY:-0XnE62Qiyi1cyLbfO_ur9J6YzZf-h3em62_IwzLOTQo=}
S3_URL="http://127.0.0.1:$S3_PORT"
SANDBOX_URL="http://127.0.0.1:$SANDBOX_PORT"

write_env() {
    mkdir -p "$STACK/pids" "$STACK/logs" "$STACK/airflow" "$STACK/warehouse"
    [[ -s "$STACK/secret" ]] || "$BIN/python" -c "import secrets; print(secrets.token_hex(32))" > "$STACK/secret"
    local secret
    secret=$(cat "$STACK/secret")
    cat > "$STACK/env.sh" <<EOF
# Source this file (or eval "\$(scripts/stack.sh env)") to use the airflow CLI on the stack.
export AIRFLOW_HOME="$STACK/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__CORE__FERNET_KEY="$FERNET_KEY"
export AIRFLOW__CORE__PARALLELISM=16
export AIRFLOW__CORE__HOSTNAME_CALLABLE=cohortflow.settings.worker_hostname
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$API_PORT/execution/"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$PG_URL"
export AIRFLOW__CELERY__BROKER_URL="$REDIS_URL"
export AIRFLOW__CELERY__RESULT_BACKEND="db+${PG_URL/+psycopg2/}"
export AIRFLOW__CELERY__WORKER_CONCURRENCY=$CONCURRENCY
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$API_PORT"
export AIRFLOW__API__PORT=$API_PORT
export AIRFLOW__API__SECRET_KEY="$secret"
export AIRFLOW__API_AUTH__JWT_SECRET="$secret"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30
export AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT=300
export AIRFLOW__LOGGING__LOGGING_LEVEL=INFO
export COHORTFLOW_LANDING="s3://$BUCKET/landing"
export COHORTFLOW_LANDING_CONN_ID=cohortflow_s3
export AIRFLOW_CONN_COHORTFLOW_S3='{"conn_type": "aws", "login": "testing", "password": "testing", "extra": {"endpoint_url": "$S3_URL", "region_name": "us-east-1"}}'
export COHORTFLOW_SANDBOX_PORT=$SANDBOX_PORT
export COHORTFLOW_WAREHOUSE="$STACK/warehouse"
export COHORTFLOW_CAMPAIGNS="$STACK/campaigns"
export COHORTFLOW_STACK_S3_URL="$S3_URL"
export COHORTFLOW_STACK_BUCKET="$BUCKET"
export COHORTFLOW_STACK_SANDBOX_URL="$SANDBOX_URL"
export COHORTFLOW_STACK_API_URL="http://127.0.0.1:$API_PORT"
EOF
}

any_alive() {
    local pidfile
    for pidfile in "$STACK"/pids/*.pid; do
        [[ -e "$pidfile" ]] && alive "$(basename "$pidfile" .pid)" && return 0
    done
    return 1
}

alive() { [[ -f "$STACK/pids/$1.pid" ]] && kill -0 "$(cat "$STACK/pids/$1.pid")" 2>/dev/null; }

# launch NAME COMMAND...: run in its own session (so stop can end its whole process group).
launch() {
    local name=$1
    shift
    if alive "$name"; then
        echo "    $name already running (pid $(cat "$STACK/pids/$name.pid"))"
        return
    fi
    setsid "$@" > "$STACK/logs/$name.log" 2>&1 < /dev/null &
    echo $! > "$STACK/pids/$name.pid"
    echo "    $name: pid $!, log .stack/logs/$name.log"
}

start() {
    "$BIN/python" scripts/stack_setup.py check 127.0.0.1:5432=PostgreSQL 127.0.0.1:6379=Redis || {
        echo "start PostgreSQL and Redis first (see the env notes)"; exit 1; }
    "$BIN/python" -c "from airflow.providers.celery.executors import celery_executor_utils" \
        2> /dev/null || {
        echo "the Celery provider does not import (celery 5.7 removed what it uses): pin celery<5.7"
        exit 1; }
    write_env
    # shellcheck source=/dev/null
    source "$STACK/env.sh"
    if ! any_alive; then
        # A fresh data area per start, as moto's bucket is: the campaign copies are rewritten
        # below, and dispatch refuses settings that changed under an active campaign.
        rm -rf "$STACK/warehouse" "$STACK/campaigns" "$STACK/sandbox.duckdb"
        mkdir -p "$STACK/warehouse"
    fi
    echo "==> metadata database (PostgreSQL) and Celery result backend"
    "$BIN/python" scripts/stack_setup.py database "$PG_URL"
    echo "==> S3 (moto server) on $S3_URL, bucket $BUCKET; provider sandbox on $SANDBOX_URL"
    launch s3 "$BIN/moto_server" -H 127.0.0.1 -p "$S3_PORT"
    launch sandbox "$BIN/cohortflow" sandbox --port "$SANDBOX_PORT" --db "$STACK/sandbox.duckdb"
    "$BIN/python" scripts/stack_setup.py wait "127.0.0.1:$S3_PORT" --timeout 60
    "$BIN/python" scripts/stack_setup.py bucket "$S3_URL" "$BUCKET"
    "$BIN/python" scripts/stack_setup.py wait "127.0.0.1:$SANDBOX_PORT" --timeout 60
    "$BIN/python" scripts/stack_setup.py campaigns include/campaigns "$STACK/campaigns" \
        --sandbox-url "$SANDBOX_URL" --conn-id sandbox_provider --batch-size 2
    echo "==> airflow db migrate, pools and connections (airflow_settings.yaml)"
    "$BIN/python" scripts/airflow_init.py > "$STACK/logs/init.log" 2>&1 || {
        tail -20 "$STACK/logs/init.log"; exit 1; }
    echo "==> Airflow: api-server, scheduler, dag-processor, triggerer, worker1, worker2"
    launch api-server "$BIN/airflow" api-server --port "$API_PORT" --workers 1
    launch scheduler "$BIN/airflow" scheduler
    launch dag-processor "$BIN/airflow" dag-processor
    launch triggerer "$BIN/airflow" triggerer
    local n
    for n in 1 2; do
        launch "worker$n" env COHORTFLOW_WORKER_NAME="worker$n" \
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=$((8795 + n)) \
            "$BIN/airflow" celery worker -H "worker$n@%h" -c "$CONCURRENCY"
    done
    "$BIN/python" scripts/stack_setup.py wait "127.0.0.1:$API_PORT" --timeout 180 || {
        tail -30 "$STACK/logs/api-server.log"; exit 1; }
    echo
    echo "stack up: UI http://127.0.0.1:$API_PORT  landing s3://$BUCKET/landing/<campaign_id>/"
    echo "use it:   eval \"\$(scripts/stack.sh env)\"; airflow dags list"
}

stop() {
    local pidfile name pid
    for pidfile in "$STACK"/pids/*.pid; do
        [[ -e "$pidfile" ]] || continue
        name=$(basename "$pidfile" .pid)
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            echo "    stopping $name (pid $pid)"
        fi
    done
    for pidfile in "$STACK"/pids/*.pid; do
        [[ -e "$pidfile" ]] || continue
        pid=$(cat "$pidfile")
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL -- "-$pid" 2>/dev/null || true
        rm -f "$pidfile"
    done
}

status() {
    local pidfile name
    for pidfile in "$STACK"/pids/*.pid; do
        [[ -e "$pidfile" ]] || { echo "stack not started"; return; }
        name=$(basename "$pidfile" .pid)
        if alive "$name"; then echo "$name: running (pid $(cat "$pidfile"))"; else echo "$name: stopped"; fi
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) [[ -f "$STACK/env.sh" ]] || write_env; cat "$STACK/env.sh" ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
