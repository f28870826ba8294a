"""Where everything lives inside the warehouse folder: one function or name per artefact.

Ingest writes a cohort folder, dispatch and the catalog read it: the names below are the
contract between them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

CATALOG_NAME = "cohortflow.duckdb"
#: The artefacts of a cohort folder (``summary.json`` is written last: its presence means the
#: others are complete).
RECIPIENTS_FILE = "recipients.parquet"
REJECTED_FILE = "rejected.csv"
REJECTIONS_FILE = "rejections.parquet"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"
ARTEFACTS = (RECIPIENTS_FILE, REJECTED_FILE, REJECTIONS_FILE, SUMMARY_FILE)
#: Columns every ``recipients.parquet`` has before its variables and overrides.
FIXED_RECIPIENT_COLUMNS = (
    "row_number", "phone_number", "region", "user_identifier", "message", "payload"
)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def safe_component(text: str) -> str:
    """A path component that cannot climb out of its folder (no separators, no ``..``)."""
    cleaned = _UNSAFE.sub("_", text).strip(".")
    return cleaned or "_"


def catalog_path(warehouse: Path) -> Path:
    """The analysts' DuckDB catalog."""
    return warehouse / CATALOG_NAME


def cohort_dir(warehouse: Path, campaign_id: str, cohort_id: str) -> Path:
    """``cohorts/campaign_id=<c>/cohort_id=<k>/`` (recipients, rejected, summary, report)."""
    return (
        warehouse
        / "cohorts"
        / f"campaign_id={safe_component(campaign_id)}"
        / f"cohort_id={safe_component(cohort_id)}"
    )


def campaign_cohorts_glob(warehouse: Path, campaign_id: str) -> list[Path]:
    """Cohort folders of one campaign, sorted by name."""
    base = warehouse / "cohorts" / f"campaign_id={safe_component(campaign_id)}"
    return sorted(p for p in base.glob("cohort_id=*") if p.is_dir())


def ledger_dir(warehouse: Path, name: str) -> Path:
    """An append-only ledger folder (``processed_files``, ``outbox``, ``results`` ...)."""
    return warehouse / "ledgers" / safe_component(name)


def storage_path(location: str, conn_id: str | None = None) -> Any:
    """A path object for a folder or file: Airflow's ``ObjectStoragePath`` for a URL such as
    ``s3://bucket/prefix`` (credentials from connection ``conn_id``), else a ``Path``."""
    if "://" in location and not location.startswith("file://"):
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(location, conn_id=conn_id)
    return Path(location.removeprefix("file://"))
