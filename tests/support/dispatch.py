"""Small builders shared by the dispatch tests: cohort fixtures, campaigns, a fake adapter."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cohortflow.config import CampaignConfig
from cohortflow.providers.base import Batch, SubmitResult
from cohortflow.warehouse.paths import cohort_dir

#: Always-open schedule (00:00-00:00 is the whole day, every day), UTC.
ALWAYS = {"allowed_start_time": "00:00", "allowed_end_time": "00:00", "timezone": "UTC"}


def indian_numbers(count: int, start: int = 0) -> list[str]:
    """Valid Indian mobile numbers in E.164."""
    return [f"+9198{start + i:08d}" for i in range(count)]


def write_cohort(
    warehouse: Path,
    campaign_id: str,
    cohort_id: str,
    phones: list[str],
    *,
    status: str = "completed",
    variables: dict[str, list[str]] | None = None,
    user_ids: list[str] | None = None,
) -> Path:
    """A published cohort folder as ingest writes it: recipients.parquet (row numbers from 2),
    an empty rejections.parquet and summary.json, ready to register in the catalog."""
    folder = cohort_dir(warehouse, campaign_id, cohort_id)
    folder.mkdir(parents=True, exist_ok=True)
    columns: dict[str, Any] = {
        "row_number": pa.array(range(2, len(phones) + 2), pa.int64()),
        "phone_number": pa.array(phones, pa.string()),
        "region": pa.array(["IN"] * len(phones), pa.string()),
        "user_identifier": pa.array(user_ids or [f"u{i}" for i in range(len(phones))],
                                    pa.string()),
    }
    for name, values in (variables or {}).items():
        columns[name] = pa.array(values, pa.string())
    pq.write_table(pa.table(columns), folder / "recipients.parquet")
    pq.write_table(pa.table({"row_number": pa.array([], pa.int64()),
                             "rejected_reason": pa.array([], pa.string()),
                             "reason_code": pa.array([], pa.string()),
                             "record": pa.array([], pa.string())}),
                   folder / "rejections.parquet")
    summary = {
        "cohort_id": cohort_id,
        "campaign_id": campaign_id,
        "name": cohort_id,
        "status": status,
        "source": f"{cohort_id}.csv",
        "sha256": "0" * 64,
        "created_at": "2026-03-01T00:00:00Z",
        "updated_at": "2026-03-01T00:00:00Z",
        "total_records": len(phones),
        "valid_records": len(phones),
        "rejected_records": 0,
    }
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return folder


def make_campaign(**overrides: Any) -> CampaignConfig:
    """A campaign with an always-open window and an http_json provider, plus overrides."""
    data: dict[str, Any] = {
        "campaign_id": "loans",
        "name": "loans",
        "status": "active",
        "allowed_schedule": ALWAYS,
        "attempts_per_second": 1000,
        "batch_size": 10,
        "provider": {"kind": "http_json", "base_url": "http://127.0.0.1:9"},
    }
    data.update(overrides)
    return CampaignConfig.model_validate(data)


class FakeAdapter:
    """Records every batch; answers with ``answers`` in turn (default: accepted). A provider
    that de-duplicates by key when ``deduplicates``."""

    def __init__(self, answers: list[SubmitResult] | None = None, *,
                 deduplicates: bool = False) -> None:
        self.answers = list(answers or [])
        self.deduplicates = deduplicates
        self.batches: list[Batch] = []
        self.times: list[float] = []
        self._lock = threading.Lock()

    def submit(self, batch: Batch) -> SubmitResult:
        with self._lock:
            self.batches.append(batch)
            self.times.append(time.monotonic())
            if self.answers:
                return self.answers.pop(0)
        return SubmitResult("accepted", status_code=200, accepted=len(batch.recipients),
                            provider_reference=f"ref-{batch.batch_number}")

    @property
    def sent_rows(self) -> list[tuple[str, int]]:
        return [(b.cohort_id, r.row_number) for b in self.batches for r in b.recipients]
