"""CometChat's send step: once per run for what was uploaded, only when the campaign may
deliver, never repeated when its outcome is unknown, tried again when it was not sent."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import requests

from cohortflow.config import CampaignConfig
from cohortflow.dispatch import run_dispatch
from cohortflow.dispatch.delivery import delivery_records, delivery_summary, start_delivery
from cohortflow.providers import adapter_for
from cohortflow.providers.base import Credentials
from cohortflow.sandbox import SandboxKeys, start_sandbox
from tests.support.dispatch import indian_numbers, make_campaign, write_cohort

KEY = "delivery-key"
CREDENTIALS = Credentials(KEY, "app-1", source="test")
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
MONDAY_11 = dt.datetime(2026, 3, 2, 11, tzinfo=IST)
OFFICE = {"allowed_start_time": "09:00", "allowed_end_time": "18:00", "timezone": "Asia/Kolkata"}


def _campaign(url: str, **provider: object) -> CampaignConfig:
    return make_campaign(allowed_schedule=OFFICE, provider={
        "kind": "cometchat", "base_url": url, "campaign_id": "cc-1", "max_attempts": 2,
        **provider})


def test_nothing_uploaded_means_no_send(tmp_path: Path) -> None:
    with start_sandbox(keys=SandboxKeys(KEY, "app-1")) as sandbox:
        campaign = _campaign(sandbox.url)
        assert start_delivery(campaign, tmp_path, adapter_for(campaign, CREDENTIALS),
                              MONDAY_11) is None
    assert delivery_records(campaign, tmp_path) == []


def test_a_send_waits_for_the_allowed_hours(tmp_path: Path) -> None:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(4))
    with start_sandbox(keys=SandboxKeys(KEY, "app-1")) as sandbox:
        campaign = _campaign(sandbox.url)
        adapter = adapter_for(campaign, CREDENTIALS)
        run_dispatch(campaign, tmp_path, MONDAY_11, adapter=adapter)
        sends_before = requests.get(f"{sandbox.url}/_sandbox/cometchat/sends", timeout=5).json()
        assert len(sends_before["sends"]) == 1
        write_cohort(tmp_path, "loans", "c2", indian_numbers(2, start=50),
                     user_ids=["late-1", "late-2"])
        run_dispatch(campaign, tmp_path, MONDAY_11, adapter=adapter)  # uploads c2, sends it
        evening = MONDAY_11.replace(hour=20)
        write_cohort(tmp_path, "loans", "c3", indian_numbers(1, start=90), user_ids=["x"])
        report = run_dispatch(campaign, tmp_path, evening, adapter=adapter)
    assert report.outcomes == [] and report.delivery is None  # nothing uploaded at 20:00
    summary = delivery_summary(campaign, tmp_path)
    assert summary is not None and summary["sends"] == 2 and summary["waiting_batches"] == 0


def test_a_send_the_provider_refuses_is_tried_again_next_run(tmp_path: Path) -> None:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(3))
    keys = SandboxKeys(KEY, "app-1", cometchat_campaigns=frozenset({"cc-1"}))
    with start_sandbox(keys=keys) as sandbox:
        campaign = _campaign(sandbox.url, campaign_id="cc-1",
                             send_path="/api/campaigns/{campaign_id}/go")  # a wrong path: 404
        adapter = adapter_for(campaign, CREDENTIALS)
        first = run_dispatch(campaign, tmp_path, MONDAY_11, adapter=adapter)
        fixed = _campaign(sandbox.url)
        second = start_delivery(fixed, tmp_path, adapter_for(fixed, CREDENTIALS), MONDAY_11)
    assert first.delivery is not None and first.delivery.status == "failed"
    assert second is not None and second.status == "sent" and second.recipients == 3
    assert [r["status"] for r in delivery_records(fixed, tmp_path)] == [
        "sending", "failed", "sending", "sent"]


def test_an_unreachable_provider_leaves_the_batches_for_the_next_send(tmp_path: Path) -> None:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(3))
    with start_sandbox(keys=SandboxKeys(KEY, "app-1")) as sandbox:
        campaign = _campaign(sandbox.url)
        run_dispatch(campaign, tmp_path, MONDAY_11.replace(hour=20),
                     adapter=adapter_for(campaign, CREDENTIALS))  # nothing: outside hours
        from cohortflow.dispatch import plan_dispatch, submit_batch

        plan = plan_dispatch(campaign, tmp_path, MONDAY_11)
        adapter = adapter_for(campaign, CREDENTIALS)
        for batch in plan.pending:
            submit_batch(batch.ref, campaign, tmp_path, adapter, now=MONDAY_11, pace=False)
    offline = _campaign("http://127.0.0.1:9")
    step = start_delivery(offline, tmp_path, adapter_for(offline, CREDENTIALS), MONDAY_11)
    assert step is not None and step.status == "not_sent"
    summary = delivery_summary(offline, tmp_path)
    assert summary is not None and summary["waiting_recipients"] == 3
