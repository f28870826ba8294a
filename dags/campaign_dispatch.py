"""
### campaign_dispatch

Submits recipient batches to the providers inside each campaign's allowed hours, at the
configured rate, exactly once.

* **plan_&lt;kind&gt;** — for every active campaign using that provider kind: the provider
  prepared first (Sarvam campaign settings pushed when the YAML changed; nothing is planned
  while the provider holds stale settings; a CometChat campaign created once), then who is due now
  (status, schedule_at/delay, end_timestamp, allowed window in the campaign's or each
  recipient's timezone, what fits before the window closes at `attempts_per_second`), cut into
  batches with deterministic idempotency keys and written to the outbox *before* sending.
  Returns small batch references only.
* **submit_&lt;kind&gt;** — one mapped task per batch, in the pool `provider_<kind>`: waits for
  the batch's paced send time, sends it through the provider adapter (429/5xx/timeouts retried
  with backoff), records the answer. Re-running a task never sends a batch twice.
* **deliver** — for providers whose uploads reach nobody until the campaign is sent
  (CometChat): one send per campaign covering this run's uploads (`scheduledAt` when the
  campaign's `schedule_at` is ahead).
* **record** — in the 1-slot pool `warehouse_writer`: cohort webhooks, then rebuilds the
  catalog tables `batches` and `deliveries` from the ledgers.

Runs when the ingest DAG publishes recipients (asset `cohortflow://recipients`) and every
5 minutes. Create the pools once (slots = concurrent uploads allowed per provider):

```
airflow pools set warehouse_writer 1 "catalog writer"
airflow pools set provider_sarvam 2 "Sarvam uploads"
airflow pools set provider_cometchat 2 "CometChat uploads"
airflow pools set provider_messaging_csv 2 "messaging uploads"
airflow pools set provider_nexus 2 "Nexus uploads"
airflow pools set provider_http_json 4 "generic JSON uploads"
```

Credentials: each campaign's `provider.conn_id` names an Airflow connection (password = key,
extra `app_id` for CometChat).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import (
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    TriggerRule,
    dag,
    task,
)

from cohortflow.assets import RECIPIENTS

PROVIDER_KINDS = ("sarvam", "cometchat", "messaging_csv", "nexus", "http_json")


@dag(
    dag_id="campaign_dispatch",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("*/5 * * * *", timezone="UTC"), assets=[RECIPIENTS]
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["cohortflow", "dispatch"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=30)},
)
def campaign_dispatch() -> None:
    """Plan each provider's campaigns, submit one mapped task per batch, record."""

    @task
    def plan(kind: str) -> list[dict[str, Any]]:
        from cohortflow.dispatch.tasks import plan_provider

        return plan_provider(kind)

    @task(map_index_template="{{ task.op_kwargs['ref']['campaign_id'] }}"
                             "/{{ task.op_kwargs['ref']['cohort_id'] }}"
                             "/b{{ task.op_kwargs['ref']['batch_number'] }}"
                             "a{{ task.op_kwargs['ref']['attempt'] }}")
    def submit(ref: dict[str, Any]) -> dict[str, Any]:
        from cohortflow.dispatch.tasks import submit_ref

        return submit_ref(ref)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def deliver() -> dict[str, Any]:
        from cohortflow.dispatch.tasks import deliver_all

        return deliver_all()

    @task(pool="warehouse_writer", trigger_rule=TriggerRule.ALL_DONE)
    def record() -> dict[str, int]:
        from cohortflow.dispatch.tasks import record_all

        return record_all()

    submits = []
    for kind in PROVIDER_KINDS:
        refs = plan.override(task_id=f"plan_{kind}")(kind)
        submits.append(
            submit.override(task_id=f"submit_{kind}", pool=f"provider_{kind}").expand(ref=refs)
        )
    submits >> deliver() >> record()


campaign_dispatch()
