"""
### campaign_control

Operator actions from the UI: trigger with **campaign_id**, **action** and, to resolve a
batch, **batch_id**.

* **pause**, **resume**, **cancel**: recorded in the warehouse's campaign-state ledger, they
  override the YAML `status`. Settings may be edited only while a campaign is paused or
  scheduled: pause it, edit `include/campaigns/<id>.yaml`, then resume (which records the new
  settings). Cancelled and ended campaigns are final.
* **sync**: push the campaign's settings (hours, end, rate, caller ids, retries, webhook) to
  the provider now (Sarvam; it takes them only while its campaign is paused or scheduled).
  Dispatch also pushes them by itself whenever the YAML changed, before any upload.
* **retry_failed**: once a config error is fixed, the recipients of the campaign's failed
  batches are planned again (new batches) by the next `campaign_dispatch`.
* **resolve_delivered** / **resolve_resend**: for an *unconfirmed* batch (the provider may
  have it; cohortflow never sends it again by itself), after checking with the provider: it
  has it (counted as sent), or it does not (its recipients go out again in a new batch).
  `cohortflow batch list --campaign <id> --status unconfirmed` and the Cohorts page list them.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task


@dag(
    dag_id="campaign_control",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["cohortflow", "dispatch", "control"],
    default_args={"retries": 1, "retry_delay": pendulum.duration(seconds=10)},
    params={
        "campaign_id": Param("", type="string", minLength=1, title="Campaign",
                             description="The campaign id (its YAML file name)."),
        "action": Param("pause", type="string",
                        enum=["pause", "resume", "cancel", "sync", "retry_failed",
                              "resolve_delivered", "resolve_resend"],
                        title="Action"),
        "batch_id": Param(None, type=["null", "string"], title="Batch",
                          description="For resolve_delivered / resolve_resend: the unconfirmed "
                          "batch's id (campaign:cohort:number:attempt)."),
    },
)
def campaign_control() -> None:
    """Apply one operator action."""

    @task
    def apply(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from cohortflow.dispatch.tasks import control

        params = params or {}
        return control(str(params["campaign_id"]), str(params["action"]),
                       params.get("batch_id") or None)

    apply()


campaign_control()
