"""Dispatch overhead: recipients/s submitted to the local sandbox with no rate limit.

The provider's limit must always be the bottleneck, never ours: the target is >= 5,000
recipients/s in batches. Run alone with ``python -m benchmarks.dispatch_overhead``.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cohortflow.config import CampaignConfig
from cohortflow.dispatch import run_dispatch
from cohortflow.providers import Credentials, adapter_for
from cohortflow.sandbox import start_sandbox
from cohortflow.warehouse import cohort_dir

ALWAYS_OPEN = {"allowed_start_time": "00:00", "allowed_end_time": "00:00", "timezone": "UTC"}


def _published_cohort(warehouse: Path, recipients: int) -> None:
    folder = cohort_dir(warehouse, "bench", "bench-cohort")
    folder.mkdir(parents=True)
    phones = [f"+9198{i:08d}" for i in range(recipients)]
    pq.write_table(
        pa.table(
            {
                "row_number": pa.array(range(1, recipients + 1), pa.int64()),
                "phone_number": pa.array(phones, pa.string()),
                "region": pa.array(["IN"] * recipients, pa.string()),
                "user_identifier": pa.array([f"u{i}" for i in range(recipients)], pa.string()),
                "message": pa.array(["Hello, your reminder"] * recipients, pa.string()),
            }
        ),
        folder / "recipients.parquet",
    )
    (folder / "summary.json").write_text(
        json.dumps(
            {
                "cohort_id": "bench-cohort",
                "campaign_id": "bench",
                "name": "bench",
                "status": "completed",
                "total_records": recipients,
                "valid_records": recipients,
                "rejected_records": 0,
            }
        )
    )


def measure(recipients: int = 50_000, batch_size: int = 1_000) -> tuple[float, float]:
    """Seconds and recipients/s to plan and submit ``recipients`` with no rate limit."""
    with (
        tempfile.TemporaryDirectory(prefix="cohortflow-dispatch-bench-") as scratch,
        start_sandbox(port=0) as sandbox,
    ):
        warehouse = Path(scratch)
        _published_cohort(warehouse, recipients)
        campaign = CampaignConfig.model_validate(
            {
                "campaign_id": "bench",
                "name": "bench",
                "status": "active",
                "allowed_schedule": ALWAYS_OPEN,
                "attempts_per_second": 10_000_000,
                "batch_size": batch_size,
                "provider": {"kind": "http_json", "base_url": sandbox.url},
            }
        )
        adapter = adapter_for(campaign, credentials=Credentials("sandbox-key", source="bench"))
        started = time.perf_counter()
        report = run_dispatch(campaign, warehouse, dt.datetime.now(dt.UTC), adapter=adapter)
        seconds = time.perf_counter() - started
        accepted = sum(o.accepted for o in report.outcomes if o.status == "submitted")
        if accepted != recipients:
            raise RuntimeError(f"the sandbox accepted {accepted} of {recipients} recipients")
    return seconds, recipients / seconds


if __name__ == "__main__":
    took, rate = measure()
    print(f"dispatch overhead: 50,000 recipients in {took:.2f} s = {rate:,.0f} recipients/s")
