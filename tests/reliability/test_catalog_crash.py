"""The catalog survives a writer killed mid-write, and concurrent publishers both land."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from cohortflow.config import load_campaign
from cohortflow.ingest import CohortRequest, process_cohort
from cohortflow.warehouse import catalog, register_cohorts
from cohortflow.warehouse.paths import cohort_dir

PROJECT = Path(__file__).resolve().parents[2]
LOANS = PROJECT / "include" / "examples" / "landing" / "loans" / "june_cohort.csv"
REMINDERS = PROJECT / "include" / "examples" / "landing" / "reminders" / "december_reminders.xlsx"


def _cohort(warehouse: Path, source: Path, campaign_id: str) -> Path:
    campaign = load_campaign(PROJECT / "include" / "campaigns" / f"{campaign_id}.yaml")
    mapping_file = source.with_name(source.stem + ".mapping.json")
    from cohortflow.config import load_mapping

    mapping = load_mapping(mapping_file) if mapping_file.exists() else None
    summary = process_cohort(
        CohortRequest(source=source, campaign=campaign, mapping=mapping),
        warehouse / "staging" / campaign_id,
    )
    target = cohort_dir(warehouse, campaign_id, summary.cohort_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    (warehouse / "staging" / campaign_id).rename(target)
    return target


def _counts(warehouse: Path) -> tuple[int, int]:
    with catalog.reader(warehouse) as conn:
        cohorts = conn.execute("select count(*) from cohorts").fetchone()
        recipients = conn.execute("select count(*) from recipients").fetchone()
    assert cohorts is not None and recipients is not None
    return int(cohorts[0]), int(recipients[0])


def test_writer_killed_mid_write_leaves_the_catalog_readable_and_unchanged(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    register_cohorts(warehouse, [_cohort(warehouse, LOANS, "loans")])
    before = _counts(warehouse)

    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from cohortflow.warehouse import catalog
        with catalog.writer(Path({str(warehouse)!r})) as conn:
            conn.execute("delete from recipients")
            conn.execute("insert into cohorts (cohort_id, campaign_id, status) "
                         "values ('half-written', 'x', 'completed')")
            print("inside", flush=True)
            time.sleep(120)
    """)
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "inside"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)

    assert _counts(warehouse) == before
    with catalog.reader(warehouse) as conn:
        assert conn.execute(
            "select count(*) from cohorts where cohort_id = 'half-written'").fetchone() == (0,)
    # The next run takes the lock the dead writer held and repairs/re-registers idempotently.
    register_cohorts(warehouse, [_cohort(warehouse, REMINDERS, "reminders")])
    assert _counts(warehouse)[0] == before[0] + 1


def test_two_publishers_at_the_same_time_both_land(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    dirs = [_cohort(warehouse, LOANS, "loans"), _cohort(warehouse, REMINDERS, "reminders")]
    script = textwrap.dedent("""
        import sys
        from pathlib import Path
        from cohortflow.warehouse import register_cohorts
        register_cohorts(Path(sys.argv[1]), [Path(sys.argv[2])])
    """)
    publishers = [
        subprocess.Popen([sys.executable, "-c", script, str(warehouse), str(d)]) for d in dirs
    ]
    assert [p.wait(timeout=120) for p in publishers] == [0, 0]
    with duckdb.connect(str(warehouse / "cohortflow.duckdb"), read_only=True) as conn:
        names = sorted(r[0] for r in conn.execute("select campaign_id from cohorts").fetchall())
    assert names == ["loans", "reminders"]


@pytest.mark.parametrize("times", [2])
def test_registering_twice_changes_nothing(tmp_path: Path, times: int) -> None:
    warehouse = tmp_path / "warehouse"
    folder = _cohort(warehouse, LOANS, "loans")
    for _ in range(times):
        register_cohorts(warehouse, [folder])
    assert _counts(warehouse) == (1, 4)
