"""Publishing cohorts into the analysts' catalog (``warehouse/cohortflow.duckdb``).

Only :func:`register_cohorts` writes the catalog, inside one transaction under the catalog
lock (and, in Airflow, from the 1-slot pool ``warehouse_writer``). Registering is idempotent:
a cohort's rows are replaced, never duplicated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from cohortflow.settings import get_settings
from cohortflow.sqlfiles import execute_script, render_sql
from cohortflow.warehouse import catalog
from cohortflow.warehouse.paths import (
    FIXED_RECIPIENT_COLUMNS,
    RECIPIENTS_FILE,
    REJECTIONS_FILE,
    SUMMARY_FILE,
)
from cohortflow.warehouse.summary import CohortSummary


@dataclass(frozen=True)
class FileRecord:
    """A landing file as the catalog's ``files`` table records it."""

    source: str
    sha256: str
    campaign_id: str
    cohort_id: str
    outcome: str  # processed | failed | duplicate
    duplicate_of: str | None = None
    moved_to: str | None = None


def ensure_schema(conn: duckdb.DuckDBPyConnection, sql_dir: Path) -> None:
    """Create the catalog tables that do not exist yet."""
    execute_script(conn, render_sql(sql_dir, "catalog/00_schema.sql"))


def register_cohorts(
    warehouse: Path,
    cohort_dirs: list[Path],
    files: list[FileRecord] = (),  # type: ignore[assignment]
    *,
    sql_dir: Path | None = None,
) -> list[CohortSummary]:
    """Add (or replace) each cohort of ``cohort_dirs`` in the catalog; record ``files``."""
    sql_dir = sql_dir or Path(get_settings().sql_dir)
    summaries = []
    with catalog.writer(warehouse) as conn:
        ensure_schema(conn, sql_dir)
        for cohort_dir in cohort_dirs:
            summaries.append(_register_one(conn, cohort_dir, sql_dir))
        for record in files:
            execute_script(conn, render_sql(sql_dir, "catalog/04_record_file.sql"), record.__dict__)
    return summaries


def _register_one(
    conn: duckdb.DuckDBPyConnection, cohort_dir: Path, sql_dir: Path
) -> CohortSummary:
    summary = CohortSummary.read(cohort_dir / SUMMARY_FILE)
    params = summary.to_json()
    params["rejected_reasons"] = json.dumps(summary.rejected_reasons)
    params["mapping"] = json.dumps(summary.mapping) if summary.mapping is not None else None
    params["artefacts"] = str(cohort_dir)
    execute_script(conn, render_sql(sql_dir, "catalog/01_replace_cohort.sql"), params)
    if summary.status != "completed":
        return summary
    keys = {"cohort_id": summary.cohort_id, "campaign_id": summary.campaign_id}
    recipients_path = cohort_dir / RECIPIENTS_FILE
    names = pq.read_schema(recipients_path).names
    conn.execute(
        render_sql(
            sql_dir,
            "catalog/02_insert_recipients.sql",
            variables=[n for n in names if n not in FIXED_RECIPIENT_COLUMNS],
            has_identifier="user_identifier" in names,
            has_message="message" in names,
            has_payload="payload" in names,
        ),
        {**keys, "path": str(recipients_path)},
    )
    conn.execute(
        render_sql(sql_dir, "catalog/03_insert_rejections.sql"),
        {**keys, "path": str(cohort_dir / REJECTIONS_FILE)},
    )
    return summary
