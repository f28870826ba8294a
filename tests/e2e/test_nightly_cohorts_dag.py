"""Nightly SQL cohorts: a week's backfill gives one cohort per night, re-runs replace it.

Each night is run with `dag.test(logical_date=...)`, as `airflow backfill create` would create
it (02:00 in the campaign's timezone); the real backfill through a scheduler is in
tests/integration/test_production_stack.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pendulum
import pytest

from cohortflow.ingest.nightly import (
    campaign_timezone,
    find_sql_cohorts,
    local_date,
    nightly_cohort_id,
    read_header,
)

PROJECT = Path(__file__).resolve().parents[2]
DAG_ID = "nightly_loans_due_soon"
WEEK = [pendulum.datetime(2026, 1, day, 2, tz="Asia/Kolkata") for day in range(5, 12)]


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("COHORTFLOW_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.setenv("COHORTFLOW_CAMPAIGNS", str(PROJECT / "include" / "campaigns"))
    yield tmp_path / "warehouse"


def _cohorts(warehouse: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse / "cohortflow.duckdb"), read_only=True) as conn:
        return conn.execute(
            "select name, cohort_id, status, source_type, valid_records from cohorts order by name"
        ).fetchall()


def test_header_names_the_campaign_and_the_default_schedule() -> None:
    (cohort,) = [c for c in find_sql_cohorts() if c.name == "loans_due_soon"]
    assert cohort.campaign_id == "loans"
    assert cohort.schedule == "0 2 * * *"
    assert cohort.dag_id == DAG_ID
    assert read_header(cohort.path)["campaign"] == "loans"


def test_timezone_is_read_from_the_campaign_yaml() -> None:
    assert campaign_timezone("loans") == "Asia/Kolkata"
    assert campaign_timezone("no_such_campaign") == "UTC"


def test_the_night_is_dated_in_the_campaign_timezone() -> None:
    # 02:00 in Kolkata is 20:30 UTC the day before: the night is still the 5th.
    assert local_date("2026-01-04T20:30:00+00:00", "Asia/Kolkata") == "2026-01-05"


def test_cohort_id_is_fixed_by_campaign_name_and_date() -> None:
    first = nightly_cohort_id("loans", "loans_due_soon", "2026-01-05")
    assert first == nightly_cohort_id("loans", "loans_due_soon", "2026-01-05")
    assert first != nightly_cohort_id("loans", "loans_due_soon", "2026-01-06")


@pytest.mark.airflow
def test_dag_runs_at_two_in_the_campaign_timezone(airflow_db: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT / "dags" / "nightly_cohorts.py")).dags[DAG_ID]
    assert dag.timetable.expression == "0 2 * * *"
    assert str(getattr(dag.timetable.timezone, "name", dag.timetable.timezone)) == "Asia/Kolkata"
    assert dag.get_task("publish").pool == "warehouse_writer"
    assert [o.name for o in dag.get_task("publish").outlets] == ["cohortflow_recipients"]


@pytest.mark.airflow
def test_backfilling_a_week_gives_one_cohort_per_night_and_reruns_replace(
    warehouse: Path, airflow_db: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT / "dags" / "nightly_cohorts.py")).dags[DAG_ID]
    for night in WEEK:
        assert str(dag.test(logical_date=night).state) == "success"
    cohorts = _cohorts(warehouse)
    assert [c[0] for c in cohorts] == [f"loans_due_soon 2026-01-{d:02d}" for d in range(5, 12)]
    assert {c[2] for c in cohorts} == {"completed"}
    assert {c[3] for c in cohorts} == {"sql"}
    assert all(c[4] > 0 for c in cohorts)

    assert str(dag.test(logical_date=WEEK[2]).state) == "success"
    assert _cohorts(warehouse) == cohorts
    with duckdb.connect(str(warehouse / "cohortflow.duckdb"), read_only=True) as conn:
        per_cohort = conn.execute(
            "select cohort_id, count(*), count(distinct row_number) from recipients group by 1"
        ).fetchall()
    assert len(per_cohort) == 7
    assert all(total == distinct for _, total, distinct in per_cohort)


def test_a_night_already_dispatched_is_kept_as_it_is(warehouse: Path) -> None:
    from cohortflow.ingest.tasks import publish_sql_cohort, run_sql_cohort

    first = publish_sql_cohort(run_sql_cohort("loans_due_soon", WEEK[0]))
    assert first["status"] == "completed"
    outbox = warehouse / "ledgers" / "outbox" / "loans" / first["cohort_id"]
    outbox.mkdir(parents=True)
    (outbox / "a0-b000001.json").write_text("{}", encoding="utf-8")
    again = publish_sql_cohort(run_sql_cohort("loans_due_soon", WEEK[0]))
    assert again["status"] == "kept"
    assert again["cohort_id"] == first["cohort_id"]


def test_a_failing_query_names_the_file(warehouse: Path, tmp_path: Path, monkeypatch: Any) -> None:
    from cohortflow.errors import CohortError
    from cohortflow.ingest.tasks import run_sql_cohort

    sql_dir = tmp_path / "sql"
    (sql_dir / "cohorts").mkdir(parents=True)
    for folder in ("ingest", "macros", "catalog"):
        (sql_dir / folder).symlink_to(PROJECT / "sql" / folder)
    (sql_dir / "cohorts" / "broken.sql").write_text(
        "-- campaign: loans\nselect * from no_such_table\n", encoding="utf-8"
    )
    monkeypatch.setenv("COHORTFLOW_SQL_DIR", str(sql_dir))
    with pytest.raises(CohortError, match=r"broken\.sql: the query failed"):
        run_sql_cohort("broken", WEEK[0])
