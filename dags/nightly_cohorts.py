"""
### nightly_&lt;name&gt;

A nightly SQL cohort: the query in `sql/cohorts/<name>.sql` (a Jinja-templated DuckDB select
over the catalog or any file), run at 02:00 in its campaign's timezone (or the file's
`-- schedule:` header) and published as a cohort of that campaign.

* **query** — renders the SQL for the night's date (`{{ ds }}`, in the campaign's timezone) and
  the campaign's settings, writes the result as a CSV and validates it exactly like a dropped
  file (mapping, row checks, DNC, dedupe, contracts) into the cohort
  `nightly:<campaign>:<name>:<date>`.
* **publish** — in the 1-slot pool `warehouse_writer`: registers the cohort in the catalog
  (replacing an earlier run of the same date) and emits the asset `cohortflow://recipients`.

Idempotent per date: re-running or backfilling a date replaces that date's cohort; a cohort
that dispatch has already started on is kept as it is, so nothing is sent twice. Backfill a week:

```
airflow backfill create --dag-id nightly_<name> --from-date 2026-01-05 --to-date 2026-01-11
```
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, task

from cohortflow.assets import RECIPIENTS
from cohortflow.ingest.nightly import SqlCohort, campaign_timezone, find_sql_cohorts


@task(retries=1)
def query(name: str, **context: Any) -> dict[str, Any]:
    """Run the SQL for the night and validate its result into the night's cohort."""
    from cohortflow.ingest.tasks import run_sql_cohort

    when = context.get("logical_date") or context["dag_run"].run_after
    return run_sql_cohort(name, when.isoformat())


@task(pool="warehouse_writer", outlets=[RECIPIENTS])
def publish(result: dict[str, Any]) -> dict[str, Any]:
    """Register the night's cohort in the catalog (replacing that date's earlier run)."""
    from cohortflow.ingest.tasks import publish_sql_cohort

    return publish_sql_cohort(result)


def nightly_dag(cohort: SqlCohort) -> DAG:
    """One DAG per SQL file: query → publish, nightly in the campaign's timezone."""
    timezone = campaign_timezone(cohort.campaign_id)
    with DAG(
        dag_id=cohort.dag_id,
        schedule=CronTriggerTimetable(cohort.schedule, timezone=timezone),
        start_date=pendulum.datetime(2026, 1, 1, tz=timezone),
        catchup=False,
        max_active_runs=3,
        doc_md=f"{cohort.description}\n\n`{cohort.path.name}` → campaign "
        f"`{cohort.campaign_id}`, `{cohort.schedule}` ({timezone}).\n{__doc__}",
        tags=["cohortflow", "nightly", cohort.campaign_id],
        default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=30)},
    ) as dag:
        publish(query(cohort.name))
    return dag


for _cohort in find_sql_cohorts():
    globals()[_cohort.dag_id] = nightly_dag(_cohort)
