"""
### campaign_outcomes

Every 15 minutes: ingests call outcomes from the providers (busy, no_answer, failed,
completed with a duration, provider_error, internal_error) into the outcomes ledger and
computes the retries each campaign's `retry_config` calls for (never past `max_retries`,
always inside the allowed window). `campaign_dispatch` sends the due retries as new batches
(attempt n, a new idempotency key). **record** (pool `warehouse_writer`) refreshes the
catalog's `deliveries` with outcomes and next retry times.

Re-running is safe: outcomes are de-duplicated by id and retries are derived, not appended.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="campaign_outcomes",
    schedule="*/15 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["cohortflow", "dispatch", "outcomes"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1)},
)
def campaign_outcomes() -> None:
    """Ingest outcomes, schedule retries, record."""

    @task
    def ingest() -> dict[str, Any]:
        from cohortflow.dispatch.tasks import collect_all_outcomes

        return collect_all_outcomes()

    @task(pool="warehouse_writer")
    def record() -> dict[str, int]:
        from cohortflow.dispatch.tasks import record_all

        return record_all()

    ingest() >> record()


campaign_outcomes()
