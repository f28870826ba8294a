"""Where everything lives inside the warehouse folder: one function per artefact."""

from __future__ import annotations

import re
from pathlib import Path

CATALOG_NAME = "cohortflow.duckdb"
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
