"""The production topology, natively (`make stack`): the scheduler does the work.

Airflow with the CeleryExecutor (metadata DB and results in the local PostgreSQL, broker in the
local Redis), two Celery workers, moto's S3 server as the landing bucket, the provider sandbox.
A CSV and an XLSX dropped into the bucket must become published cohorts, be dispatched to the
sandbox, and their mapped tasks must have run on both workers. A real `airflow backfill
create` over a week of a nightly SQL cohort must leave one cohort per night.

The stack is reused when it already runs (`make stack`), else started and stopped here.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLES = PROJECT / "include" / "examples" / "landing"
STACK = PROJECT / ".stack"
API_PORT = int(os.environ.get("STACK_API_PORT", "8280"))

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _stack_env() -> dict[str, str]:
    """The stack's environment, as `scripts/stack.sh env` prints it."""
    text = subprocess.run(
        ["bash", "scripts/stack.sh", "env"],
        cwd=PROJECT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    env = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, str]]:
    """The running stack's environment; starts (and afterwards stops) it when it is not up."""
    services = (("PostgreSQL", 5432), ("Redis", 6379))
    missing = [name for name, port in services if not _reachable(port)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not reachable on 127.0.0.1; the stack needs both")
    try:
        from airflow.providers.celery.executors import celery_executor_utils  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"the Celery provider does not import ({exc}); pin celery<5.7")
    started_here = not _reachable(API_PORT)
    if started_here:
        result = subprocess.run(
            ["bash", "scripts/stack.sh", "start"], cwd=PROJECT, capture_output=True, text=True
        )
        if result.returncode != 0:
            subprocess.run(["bash", "scripts/stack.sh", "stop"], cwd=PROJECT, check=False)
            pytest.fail("scripts/stack.sh start failed:\n" + result.stdout + result.stderr)
    env = _stack_env()
    try:
        yield env
    finally:
        if started_here:
            subprocess.run(["bash", "scripts/stack.sh", "stop"], cwd=PROJECT, check=False)


# --------------------------------------------------------------------------- helpers


def _api(env: dict[str, str], method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        env["COHORTFLOW_STACK_API_URL"] + "/api/v2" + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def _wait(what: str, check: Callable[[], Any], timeout: float, every: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def _metadata(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="cohortflow_airflow")
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
    finally:
        conn.close()


def _catalog(env: dict[str, str], sql: str) -> list[tuple[Any, ...]]:
    import duckdb

    path = Path(env["COHORTFLOW_WAREHOUSE"]) / "cohortflow.duckdb"
    if not path.exists():
        return []
    try:
        with duckdb.connect(str(path), read_only=True) as conn:
            return list(conn.execute(sql).fetchall())
    except duckdb.Error:  # a writer holds it right now
        return []


def _s3(env: dict[str, str]) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=env["COHORTFLOW_STACK_S3_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def _unpause(env: dict[str, str], dag_id: str) -> None:
    _wait(
        f"{dag_id} parsed",
        lambda: _metadata("select 1 from dag where dag_id = %s", (dag_id,)),
        timeout=180,
    )
    _api(env, "PATCH", f"/dags/{dag_id}", {"is_paused": False})


def _unique_files(tmp_path: Path, stamp: str) -> dict[str, Path]:
    """The example CSV (+ mapping) and XLSX, each with one extra row of a fresh phone number.

    Fresh content gives fresh cohort ids, so a reused stack does not see duplicates.
    """
    from openpyxl import load_workbook

    digits = f"{int(stamp, 16) % 10**7:07d}"
    csv = tmp_path / f"june_{stamp}.csv"
    text = (EXAMPLES / "loans" / "june_cohort.csv").read_text(encoding="utf-8").rstrip("\n")
    csv.write_text(
        text + f"\n98{digits}1,C{stamp},stack test,1000,05/07/2026,en\n", encoding="utf-8"
    )
    mapping = tmp_path / f"june_{stamp}.mapping.json"
    shutil.copy(EXAMPLES / "loans" / "june_cohort.mapping.json", mapping)
    xlsx = tmp_path / f"december_{stamp}.xlsx"
    book = load_workbook(EXAMPLES / "reminders" / "december_reminders.xlsx")
    sheet = book.worksheets[0]
    row = [cell.value for cell in sheet[2]]
    headers = [str(cell.value) for cell in sheet[1]]
    row[headers.index(next(h for h in headers if "phone" in h.lower()))] = f"97{digits}2"
    sheet.append(row)
    book.save(xlsx)
    return {"loans": csv, "loans_mapping": mapping, "reminders": xlsx}


# --------------------------------------------------------------------------- tests


def test_dropped_files_are_published_dispatched_and_spread_over_both_workers(
    stack: dict[str, str], tmp_path: Path
) -> None:
    started = time.monotonic()
    stamp = uuid.uuid4().hex[:8]
    files = _unique_files(tmp_path, stamp)
    s3 = _s3(stack)
    bucket = stack["COHORTFLOW_STACK_BUCKET"]
    for key in ("loans_mapping", "loans", "reminders"):
        campaign = key.split("_")[0]
        s3.upload_file(str(files[key]), bucket, f"landing/{campaign}/{files[key].name}")
    since = _metadata("select now()")[0][0]

    _unpause(stack, "campaign_dispatch")
    _unpause(stack, "cohort_ingest")
    _api(stack, "POST", "/dags/cohort_ingest/dagRuns", {"logical_date": None})

    names = (files["loans"].name, files["reminders"].name)
    quoted = ", ".join(f"'{n}'" for n in names)
    cohorts = _wait(
        "both cohorts in the catalog",
        lambda: (
            rows
            if len(
                rows := _catalog(
                    stack,
                    "select name, cohort_id, campaign_id, status, valid_records from cohorts"
                    f" where name in ({quoted})",
                )
            )
            == 2
            else None
        ),
        timeout=420,
    )
    assert {row[3] for row in cohorts} == {"completed"}, cohorts
    _wait(
        "the files moved out of the landing area",
        lambda: (
            not [
                item["Key"]
                for item in s3.list_objects_v2(Bucket=bucket, Prefix="landing/").get("Contents", [])
                if stamp in item["Key"]
            ]
        ),
        timeout=120,
    )

    def dispatched() -> bool:
        for _, cohort_id, campaign_id, _, valid in cohorts:
            with urllib.request.urlopen(
                stack["COHORTFLOW_STACK_SANDBOX_URL"] + "/_sandbox/recipients?limit=100000",
                timeout=30,
            ) as response:
                rows = json.loads(response.read())["recipients"]
            prefix = f"{campaign_id}:{cohort_id}:"
            sent = {r["phone_number"] for r in rows if r["idempotency_key"].startswith(prefix)}
            if len(sent) < valid:
                return False
        return True

    _wait("every valid recipient at the sandbox", dispatched, timeout=420)

    hosts = _metadata(
        "select distinct hostname from task_instance"
        " where dag_id in ('cohort_ingest', 'campaign_dispatch') and map_index >= 0"
        " and state = 'success' and start_date >= %s",
        (since,),
    )
    assert {h for (h,) in hosts} >= {"worker1", "worker2"}, hosts
    print(f"stack round trip: {time.monotonic() - started:.0f}s; workers: {sorted(hosts)}")


def test_backfill_of_a_week_creates_one_nightly_cohort_per_night(
    stack: dict[str, str],
) -> None:
    """`airflow backfill create` for 7 nights, then one night again: 7 cohorts.

    The nights run at 02:00 Asia/Kolkata (20:30 UTC the day before), so the window is given
    in the campaign's timezone.
    """
    dag_id = "nightly_loans_due_soon"
    _unpause(stack, dag_id)  # a paused DAG's backfill runs are created but never scheduled
    env = {**os.environ, **stack}
    airflow = str(PROJECT / ".venv" / "bin" / "airflow")

    # The metadata database is kept across starts: a stack stopped while a backfill ran (a
    # killed test run) leaves it unfinished, and Airflow allows one running backfill per DAG.
    for (unfinished,) in _metadata(
            "select id from backfill where dag_id = %s and completed_at is null", (dag_id,)):
        _api(stack, "PUT", f"/backfills/{unfinished}/cancel")

    def backfill(start: str, end: str) -> None:
        before = _metadata("select coalesce(max(id), 0) from backfill")[0][0]
        result = subprocess.run(
            [
                airflow,
                "backfill",
                "create",
                "--dag-id",
                dag_id,
                "--from-date",
                start,
                "--to-date",
                end,
                "--reprocess-behavior",
                "completed",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        (backfill_id,) = _metadata(
            "select id from backfill where dag_id = %s and id > %s", (dag_id, before)
        )[0]
        _wait(
            f"backfill {backfill_id} to complete",
            lambda: _metadata("select completed_at from backfill where id = %s", (backfill_id,))[0][
                0
            ],
            timeout=600,
        )
        failed = _metadata(
            "select run_id from dag_run where backfill_id = %s and state != 'success'",
            (backfill_id,),
        )
        assert not failed, failed

    def nights() -> list[str]:
        rows = _catalog(
            stack, "select name from cohorts where name like 'loans_due_soon 2026-01-%' order by 1"
        )
        return [name.split()[-1] for (name,) in rows]

    week = [f"2026-01-{day:02d}" for day in range(5, 12)]
    backfill("2026-01-05T00:00:00+05:30", "2026-01-11T23:59:59+05:30")
    assert nights() == week
    backfill("2026-01-07T00:00:00+05:30", "2026-01-07T23:59:59+05:30")
    assert nights() == week
