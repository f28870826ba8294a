"""
### cohort_ingest

Turns cohort files dropped into the landing area into validated recipients.

* **discover** — files under `landing/<campaign_id>/` (CSV, XLSX, XLS, ODS) whose content hash is
  not yet in the processed-files ledger; a re-dropped file is recorded as a duplicate.
* **process** — one mapped task per file: read, blocking checks, row checks, DNC, render,
  dedupe, pandera contract; writes `warehouse/cohorts/campaign_id=…/cohort_id=…/`.
* **publish** — in the 1-slot pool `warehouse_writer`: registers cohorts in
  `warehouse/cohortflow.duckdb`, moves files to `archive/` (or `failed/`) with their summary,
  and emits the asset `cohortflow://recipients`.

Trigger it from the UI with **file** (a name or path under the landing area) and/or
**campaign_id** to process just those; a failed file fails only its own cohort.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from cohortflow.assets import RECIPIENTS


@dag(
    dag_id="cohort_ingest",
    schedule="*/5 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["cohortflow", "ingest"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=30)},
    params={
        "file": Param(
            None,
            type=["null", "string"],
            title="File",
            description="Only this landing file (name or path); empty = all new.",
        ),
        "campaign_id": Param(
            None,
            type=["null", "string"],
            title="Campaign",
            description="Only this campaign's landing folder.",
        ),
    },
)
def cohort_ingest() -> None:
    """Discover new landing files, process each, publish the cohorts."""

    @task
    def discover(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        from cohortflow.ingest.tasks import find_new_files

        params = params or {}
        return find_new_files(
            campaign_id=params.get("campaign_id") or None, file=params.get("file") or None
        )

    @task(map_index_template="{{ task.op_kwargs['item']['name'] }}")
    def process(item: dict[str, Any]) -> dict[str, Any]:
        from cohortflow.ingest.tasks import process_file

        return process_file(item)

    @task(pool="warehouse_writer", outlets=[RECIPIENTS])
    def publish(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from cohortflow.cli.ingest import report_table
        from cohortflow.ingest.tasks import publish as publish_results

        published = publish_results(list(results))
        print(report_table(published))
        return published

    publish(process.expand(item=discover()))


cohort_ingest()
