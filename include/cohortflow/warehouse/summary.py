"""The cohort summary (``summary.json``): status, counts, reasons, mapping and timings."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from cohortflow.warehouse.paths import SUMMARY_FILE


class CohortSummary(BaseModel):
    """What a cohort's processing produced; the fields follow Sarvam's cohort response."""

    cohort_id: str
    campaign_id: str
    name: str
    status: Literal["processing", "completed", "failed"] = "processing"
    source_type: str = "file_upload"
    source: str
    sha256: str
    total_records: int = 0
    valid_records: int = 0
    rejected_records: int = 0
    rejected_reasons: dict[str, int] = Field(default_factory=dict)
    error: str | None = None
    error_code: str | None = None
    created_at: str
    updated_at: str
    headers: list[str] = Field(default_factory=list)
    sheet: str | None = None  # the worksheet read, for a workbook
    rejected_reason_column: str | None = None  # the reasons column's name in rejected.csv
    mapping: dict[str, Any] | None = None
    mapping_inferred: bool = False
    mapping_source: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)

    def fail(self, code: str, message: str) -> None:
        """Mark the cohort failed: no recipients are published, the error names the cause."""
        self.status = "failed"
        self.error_code = code
        self.error = message
        self.total_records = 0
        self.valid_records = 0
        self.rejected_records = 0
        self.rejected_reasons = {}

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON-ready data."""
        return self.model_dump(mode="json")

    @classmethod
    def read(cls, path: Path) -> CohortSummary:
        """Load a ``summary.json``."""
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` via a temporary file and an atomic rename (fsynced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def read_summary(folder: Path) -> dict[str, Any] | None:
    """A cohort folder's ``summary.json`` as data, or None when it is missing or unreadable
    (the cohort is not published)."""
    try:
        with (folder / SUMMARY_FILE).open(encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
