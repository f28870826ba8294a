"""
### campaign_control

Pause, resume or cancel a campaign from the UI: trigger with **campaign_id** and **action**.

The change is recorded in the warehouse's campaign-state ledger and overrides the YAML
`status`. Settings may be edited only while a campaign is paused or scheduled: pause it,
edit `include/campaigns/<id>.yaml`, then resume (which records the new settings). Cancelled
and ended campaigns are final.
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
        "action": Param("pause", type="string", enum=["pause", "resume", "cancel"],
                        title="Action"),
    },
)
def campaign_control() -> None:
    """Apply one status change."""

    @task
    def apply(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from cohortflow.dispatch.tasks import control

        params = params or {}
        return control(str(params["campaign_id"]), str(params["action"]))

    apply()


campaign_control()
