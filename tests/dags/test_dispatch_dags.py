"""The dispatch DAGs: shape, pools, schedule and params."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dag_bag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dispatch_plans_submits_per_provider_pool_then_records(dag_bag) -> None:  # type: ignore[no-untyped-def]
    dag = dag_bag.dags["campaign_dispatch"]
    for kind in ("sarvam", "cometchat", "messaging_csv", "nexus", "http_json"):
        assert dag.get_task(f"submit_{kind}").pool == f"provider_{kind}"
        assert f"plan_{kind}" in dag.get_task(f"submit_{kind}").upstream_task_ids
    record, deliver = dag.get_task("record"), dag.get_task("deliver")
    assert record.pool == "warehouse_writer"
    assert set(record.upstream_task_ids) == {"deliver"}  # after CometChat's send step
    assert set(deliver.upstream_task_ids) == {
        f"submit_{k}" for k in ("sarvam", "cometchat", "messaging_csv", "nexus", "http_json")
    }
    assert "AssetOrTimeSchedule" in type(dag.timetable).__name__


def test_outcomes_and_control_dags(dag_bag) -> None:  # type: ignore[no-untyped-def]
    outcomes = dag_bag.dags["campaign_outcomes"]
    assert outcomes.get_task("record").pool == "warehouse_writer"
    control = dag_bag.dags["campaign_control"]
    assert set(control.params.keys()) == {"campaign_id", "action", "batch_id"}
    from cohortflow.dispatch.tasks import CONTROL_ACTIONS

    assert control.params.get_param("action").schema["enum"] == list(CONTROL_ACTIONS)
