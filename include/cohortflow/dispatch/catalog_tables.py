"""Fold the dispatch ledgers into the catalog tables ``batches`` and ``deliveries``.

The ledgers are the source of truth; these tables are rebuilt from them on every call
(``create or replace`` inside one catalog transaction), so recording twice gives the same
tables. The SQL lives in ``sql/dispatch/``; inputs are Arrow tables registered by name.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from cohortflow.config import CampaignConfig
from cohortflow.dispatch.cohorts import recipient_phones
from cohortflow.dispatch.outbox import Outbox
from cohortflow.dispatch.outcomes import Outcome, read_outcomes
from cohortflow.dispatch.retries import RetryDecision, schedule_retries
from cohortflow.settings import get_settings
from cohortflow.sqlfiles import render_sql
from cohortflow.warehouse import catalog, ledger_dir

BATCH_SCHEMA = pa.schema(
    [
        ("campaign_id", pa.string()),
        ("cohort_id", pa.string()),
        ("batch_number", pa.int64()),
        ("attempt", pa.int64()),
        ("idempotency_key", pa.string()),
        ("recipients", pa.int64()),
        ("status", pa.string()),
        ("outcome", pa.string()),
        ("accepted", pa.int64()),
        ("confirmed", pa.int64()),
        ("provider_rejected", pa.int64()),
        ("provider_status", pa.string()),
        ("provider_reference", pa.string()),
        ("error", pa.string()),
        ("resolved_by", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("submitted_at", pa.timestamp("us", tz="UTC")),
    ]
)
DELIVERY_SCHEMA = pa.schema(
    [
        ("campaign_id", pa.string()),
        ("cohort_id", pa.string()),
        ("row_number", pa.int64()),
        ("phone_number", pa.string()),
        ("idempotency_key", pa.string()),
        ("batch_number", pa.int64()),
        ("attempt", pa.int64()),
        ("status", pa.string()),
        ("provider_status_code", pa.int64()),
        ("provider_response", pa.string()),
        ("provider_reason", pa.string()),
        ("outcome", pa.string()),
        ("duration_seconds", pa.float64()),
        ("outcome_at", pa.timestamp("us", tz="UTC")),
        ("next_retry_at", pa.timestamp("us", tz="UTC")),
        ("retry_reason", pa.string()),
    ]
)


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def ledger_campaigns(warehouse: Path) -> list[str]:
    """Campaign ids that have an outbox (folder names as written)."""
    folder = ledger_dir(warehouse, "outbox")
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _campaign_rows(
    warehouse: Path, campaign_id: str, campaign: CampaignConfig | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    outbox = Outbox(warehouse, campaign_id)
    results = outbox.results()
    batches = outbox.batches()
    outcomes: dict[tuple[str, int, int], Outcome] = {}
    retries: dict[tuple[str, int], RetryDecision] = {}
    if campaign is not None:
        for outcome in read_outcomes(campaign, warehouse):
            outcomes[(outcome.cohort_id, outcome.row_number, outcome.attempt)] = outcome
        for decision in schedule_retries(campaign, warehouse):
            retries[(decision.cohort_id, decision.row_number)] = decision
    phones: dict[str, dict[int, str | None]] = {}
    batch_rows, delivery_rows = [], []
    for batch in batches:
        answers = results.get(batch.idempotency_key, [])
        status = Outbox.status_of(answers)
        last = answers[-1] if answers else None
        answered = [a for a in answers if a.outcome is not None]
        submitted = next((a for a in answers if a.status == "submitted"), None)
        report = submitted or (answered[-1] if answered else None)
        refused = {r["row_number"]: r["reason"] for r in report.rejected_rows} if report else {}
        batch_rows.append(
            {
                "campaign_id": batch.campaign_id,
                "cohort_id": batch.cohort_id,
                "batch_number": batch.batch_number,
                "attempt": batch.attempt,
                "idempotency_key": batch.idempotency_key,
                "recipients": len(batch.rows),
                "status": status,
                "outcome": answered[-1].outcome if answered else None,
                "accepted": report.accepted if report else None,
                "confirmed": report.confirmed if report else None,
                "provider_rejected": report.provider_rejected if report else None,
                "provider_status": report.provider_status if report else None,
                "provider_reference": last.provider_reference if last else None,
                "error": last.error if last and status != "submitted" else None,
                "resolved_by": last.actor if last else None,
                "created_at": _time(batch.planned_at),
                "submitted_at": _time(submitted.recorded_at) if submitted else None,
            }
        )
        if batch.cohort_id not in phones:
            cohort = recipient_phones(warehouse, batch.campaign_id, batch.cohort_id)
            phones[batch.cohort_id] = dict(zip(cohort.row_numbers, cohort.phones, strict=True))
        response = json.dumps(last.response, sort_keys=True) if last else None
        for row in batch.rows:
            found = outcomes.get((batch.cohort_id, row, batch.attempt))
            retry = retries.get((batch.cohort_id, row))
            retry_here = retry is not None and retry.attempt == batch.attempt + 1
            delivery_rows.append(
                {
                    "campaign_id": batch.campaign_id,
                    "cohort_id": batch.cohort_id,
                    "row_number": row,
                    "phone_number": phones[batch.cohort_id].get(row),
                    "idempotency_key": batch.idempotency_key,
                    "batch_number": batch.batch_number,
                    "attempt": batch.attempt,
                    "status": "provider_rejected" if row in refused else status,
                    "provider_status_code": last.status_code if last else None,
                    "provider_response": response,
                    "provider_reason": refused.get(row),
                    "outcome": found.outcome if found else None,
                    "duration_seconds": found.duration_seconds if found else None,
                    "outcome_at": found.at_time if found else None,
                    "next_retry_at": retry.due_at if retry_here and retry else None,
                    "retry_reason": retry.reason if retry_here and retry else None,
                }
            )
    return batch_rows, delivery_rows


def record_dispatch(
    warehouse: Path,
    campaigns: Iterable[CampaignConfig] = (),
    *,
    sql_dir: Path | None = None,
) -> dict[str, int]:
    """Rebuild ``batches`` and ``deliveries`` from the ledgers; returns their row counts.

    ``campaigns`` supplies the configs needed to compute retry times; campaigns found in the
    ledgers without a config get no ``next_retry_at``.
    """
    sql_dir = sql_dir or Path(get_settings().sql_dir)
    configs = {c.campaign_id: c for c in campaigns}
    batch_rows: list[dict[str, Any]] = []
    delivery_rows: list[dict[str, Any]] = []
    for campaign_id in sorted(set(ledger_campaigns(warehouse)) | set(configs)):
        found = _campaign_rows(warehouse, campaign_id, configs.get(campaign_id))
        batch_rows += found[0]
        delivery_rows += found[1]
    batches = pa.Table.from_pylist(batch_rows, schema=BATCH_SCHEMA)
    deliveries = pa.Table.from_pylist(delivery_rows, schema=DELIVERY_SCHEMA)
    params = {"recorded_at": dt.datetime.now(dt.UTC)}
    with catalog.writer(warehouse) as conn:
        conn.register("batches_source", batches)
        conn.register("deliveries_source", deliveries)
        conn.execute(render_sql(sql_dir, "dispatch/01_batches.sql"), params)
        conn.execute(render_sql(sql_dir, "dispatch/02_deliveries.sql"), params)
        conn.unregister("batches_source")
        conn.unregister("deliveries_source")
    return {"batches": batches.num_rows, "deliveries": deliveries.num_rows}
