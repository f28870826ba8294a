"""cohort_ingest end to end with dag.test(): landing files become catalogued cohorts."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLES = PROJECT / "include" / "examples" / "landing"

pytestmark = pytest.mark.airflow


@pytest.fixture
def area(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> Iterator[Path]:
    landing = tmp_path / "landing"
    shutil.copytree(EXAMPLES, landing)
    (landing / "broken").mkdir()
    (landing / "broken" / "garbage.csv").write_bytes(b"\x00\x01\x02binary\x00")
    monkeypatch.setenv("COHORTFLOW_LANDING", str(landing))
    monkeypatch.setenv("COHORTFLOW_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.setenv("COHORTFLOW_CAMPAIGNS", str(PROJECT / "include" / "campaigns"))
    yield tmp_path


def _run_dag(**params: object) -> str:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT / "dags" / "cohort_ingest.py")).dags["cohort_ingest"]
    run = dag.test(run_conf=params or None)
    return str(run.state)


def _catalog(area: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(area / "warehouse" / "cohortflow.duckdb"), read_only=True)


def test_dag_publishes_every_landing_file_once(area: Path) -> None:
    assert _run_dag() == "success"
    with _catalog(area) as conn:
        cohorts = dict(conn.execute("select name, status from cohorts order by name").fetchall())
        recipients = conn.execute("select count(*) from recipients").fetchone()
        rejections = conn.execute("select count(*) from rejections").fetchone()
    assert cohorts == {
        "december_offers.csv": "completed",  # user ids only: a CometChat campaign
        "december_reminders.xlsx": "completed",
        "garbage.csv": "failed",
        "june_cohort.csv": "completed",
    }
    assert recipients == (13,)
    assert rejections == (11,)
    assert not list((area / "landing" / "loans").glob("*.csv"))
    assert list((area / "archive" / "loans").glob("*june_cohort.csv.summary.json"))
    assert list((area / "failed" / "broken").glob("*garbage.csv"))


def test_redropped_file_is_recorded_as_duplicate_and_not_processed_again(area: Path) -> None:
    assert _run_dag() == "success"
    again = area / "landing" / "loans" / "june_copy.csv"
    shutil.copy(EXAMPLES / "loans" / "june_cohort.csv", again)
    assert _run_dag() == "success"
    with _catalog(area) as conn:
        cohort_count = conn.execute(
            "select count(*) from cohorts where campaign_id = 'loans'"
        ).fetchone()
        outcome = conn.execute(
            "select outcome, duplicate_of from files where source like '%june_copy.csv'"
        ).fetchone()
    assert cohort_count == (1,)
    assert outcome is not None and outcome[0] == "duplicate"
    assert outcome[1] is not None and outcome[1].endswith("june_cohort.csv")
    assert not again.exists()


def test_rerun_with_nothing_new_changes_nothing(area: Path) -> None:
    assert _run_dag() == "success"
    with _catalog(area) as conn:
        before = conn.execute("select count(*) from recipients").fetchone()
    assert _run_dag() == "success"
    with _catalog(area) as conn:
        after = conn.execute("select count(*) from recipients").fetchone()
    assert before == after


def test_trigger_with_file_param_processes_only_that_file(area: Path) -> None:
    assert _run_dag(file="june_cohort.csv") == "success"
    with _catalog(area) as conn:
        names = [r[0] for r in conn.execute("select name from cohorts").fetchall()]
    assert names == ["june_cohort.csv"]
    assert (area / "landing" / "reminders" / "december_reminders.xlsx").exists()
