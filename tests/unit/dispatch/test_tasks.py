"""The campaign_control DAG's task: status changes and the operator's batch actions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from cohortflow.config import load_campaign
from cohortflow.dispatch import list_batches, run_dispatch
from cohortflow.dispatch.campaign_state import CampaignStateError
from cohortflow.dispatch.resolve import ResolveError
from cohortflow.dispatch.tasks import control
from cohortflow.providers.base import SubmitResult
from tests.support.dispatch import ALWAYS, FakeAdapter, indian_numbers, write_cohort

NOW = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)


@pytest.fixture
def campaign_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = {"name": "loans", "status": "active", "allowed_schedule": ALWAYS, "batch_size": 2,
            "provider": {"kind": "http_json", "base_url": "http://127.0.0.1:9"}}
    path = tmp_path / "loans.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("COHORTFLOW_CAMPAIGNS", str(tmp_path))
    monkeypatch.setenv("COHORTFLOW_WAREHOUSE", str(tmp_path / "warehouse"))
    write_cohort(tmp_path / "warehouse", "loans", "c1", indian_numbers(4))
    lost = SubmitResult("unknown", status_code=None, accepted=0, error="connection dropped")
    refused = SubmitResult("rejected", status_code=400, accepted=0, error="bad column")
    run_dispatch(load_campaign(path), tmp_path / "warehouse", NOW,
                 adapter=FakeAdapter([lost, refused]))
    return path


def test_resolve_actions_need_the_batch_id(campaign_path: Path) -> None:
    with pytest.raises(ResolveError, match="needs the batch id"):
        control("loans", "resolve_delivered")


def test_resolve_resend_and_retry_failed_release_their_batches(campaign_path: Path) -> None:
    warehouse = campaign_path.parent / "warehouse"
    resent = control("loans", "resolve_resend", "loans:c1:000001:0")
    assert resent["status"] == "released" and resent["resolved_by"] == "airflow"
    retried = control("loans", "retry_failed")
    assert retried["recipients"] == 2
    statuses = {b.batch_id: b.status for b in list_batches(load_campaign(campaign_path),
                                                             warehouse)}
    assert statuses == {"loans:c1:000001:0": "released", "loans:c1:000002:0": "released"}


def test_resolve_delivered_marks_it_sent(campaign_path: Path) -> None:
    assert control("loans", "resolve_delivered", "loans:c1:000001:0")["status"] == "submitted"


def test_status_actions_still_work_and_unknown_ones_are_refused(campaign_path: Path) -> None:
    assert control("loans", "pause")["status"] == "paused"
    with pytest.raises(CampaignStateError, match="unknown action 'delete'"):
        control("loans", "delete")
