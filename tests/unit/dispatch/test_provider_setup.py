"""What must hold at the provider before uploads: Sarvam settings pushed (and uploads waiting
while they are not), CometChat's campaign created once, the per-campaign recipient limit, and
no cohortflow retries for a provider that retries itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cohortflow.config import CampaignConfig, CometChatProvider
from cohortflow.dispatch import plan_dispatch, run_dispatch, submit_batch
from cohortflow.dispatch.outbox import Outbox
from cohortflow.dispatch.outcomes import Outcome
from cohortflow.dispatch.plan import CampaignLimitError
from cohortflow.dispatch.provider_setup import (
    ensure_provider_campaign,
    prepare_provider,
    push_settings,
    settings_state,
    with_provider_campaign,
)
from cohortflow.dispatch.retries import decide_retry
from cohortflow.providers import adapter_for
from cohortflow.providers.base import Credentials
from cohortflow.sandbox import SandboxHandle, SandboxKeys, start_sandbox
from tests.support.dispatch import indian_numbers, make_campaign, write_cohort

KEY = "setup-key"
NOW = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
CREDENTIALS = Credentials(KEY, "app-1", source="test")


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with start_sandbox(keys=SandboxKeys(KEY, "app-1")) as handle:
        yield handle


def _sarvam(url: str, **overrides: Any) -> CampaignConfig:
    provider = {"kind": "sarvam", "base_url": url, "org_id": "o", "workspace_id": "w",
                "campaign_id": "cmp"}
    return make_campaign(provider=provider, **overrides)


def _console(sandbox: SandboxHandle, status: str) -> None:
    requests.post(f"{sandbox.url}/_sandbox/sarvam/campaigns/cmp/status",
                  json={"status": status}, timeout=5).raise_for_status()


def _updates(sandbox: SandboxHandle) -> int:
    found: int = requests.get(f"{sandbox.url}/_sandbox/sarvam/campaigns/cmp",
                              timeout=5).json()["updates"]
    return found


def test_settings_are_pushed_once_and_again_only_when_they_change(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    campaign = _sarvam(sandbox.url)
    assert not settings_state(campaign, tmp_path).in_sync
    adapter = adapter_for(campaign, CREDENTIALS)
    assert push_settings(campaign, tmp_path, adapter).in_sync
    assert push_settings(campaign, tmp_path, adapter).in_sync
    assert _updates(sandbox) == 1  # unchanged settings are not pushed again

    changed = _sarvam(sandbox.url, attempts_per_second=5)
    state = settings_state(changed, tmp_path)
    assert not state.in_sync and not state.blocked and "changed since they were pushed" in (
        state.detail)
    assert push_settings(changed, tmp_path, adapter_for(changed, CREDENTIALS)).in_sync
    assert _updates(sandbox) == 2
    assert settings_state(campaign, tmp_path).in_sync is False  # the old ones are not held


def test_refused_settings_block_planning_and_defer_planned_batches(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(12))
    campaign = _sarvam(sandbox.url)
    adapter = adapter_for(campaign, CREDENTIALS)
    plan = plan_dispatch(campaign, tmp_path, NOW)  # planned, then the settings were refused
    _console(sandbox, "active")
    reason = prepare_provider(campaign, tmp_path, adapter)
    assert reason is not None and "refused the settings update" in reason
    assert settings_state(campaign, tmp_path).blocked

    outcome = submit_batch(plan.pending[0].ref, campaign, tmp_path, adapter, pace=False,
                           now=NOW)
    assert outcome.status == "deferred" and "refused" in outcome.detail
    report = run_dispatch(campaign, tmp_path, NOW, adapter=adapter)
    assert not report.plan.may_send and report.outcomes == []
    stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()
    assert stats["recipients"] == 0

    _console(sandbox, "paused")
    report = run_dispatch(campaign, tmp_path, NOW, adapter=adapter)
    assert report.count("submitted") == 12


def test_a_dry_run_pushes_nothing_and_says_it_would(tmp_path: Path, sandbox: SandboxHandle) -> None:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(3))
    campaign = _sarvam(sandbox.url)
    report = run_dispatch(campaign, tmp_path, NOW, dry_run=True,
                          adapter=adapter_for(campaign, CREDENTIALS))
    assert "would be pushed first" in report.plan.reason
    assert _updates(sandbox) == 0


def test_cometchat_campaign_is_created_once_and_its_id_used(tmp_path: Path) -> None:
    keys = SandboxKeys(KEY, "app-1", cometchat_campaigns=frozenset())
    with start_sandbox(keys=keys) as sandbox:
        campaign = make_campaign(provider={"kind": "cometchat", "base_url": sandbox.url,
                                           "template_id": "tpl"})
        adapter = adapter_for(campaign, CREDENTIALS)
        assert ensure_provider_campaign(campaign, tmp_path, adapter) is None
        assert ensure_provider_campaign(campaign, tmp_path, adapter) is None
        live = with_provider_campaign(campaign, tmp_path)
        stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()
    assert isinstance(live.provider, CometChatProvider) and live.provider.campaign_id == "cc-0001"
    assert stats["counts"]["status_201"] == 1  # created once


def test_cometchat_campaign_creation_failure_says_what_to_do(tmp_path: Path) -> None:
    campaign = make_campaign(provider={"kind": "cometchat", "base_url": "http://127.0.0.1:9",
                                       "template_id": "tpl", "max_attempts": 1})
    reason = ensure_provider_campaign(campaign, tmp_path, adapter_for(campaign, CREDENTIALS))
    assert reason is not None and "could not be created" in reason
    assert "set provider.campaign_id" in reason
    assert with_provider_campaign(campaign, tmp_path) is campaign


def test_more_recipients_than_one_cometchat_campaign_takes_is_refused_at_plan_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cohortflow.providers.cometchat.CometChatAdapter."
                        "max_campaign_recipients", 25)
    campaign = make_campaign(provider={"kind": "cometchat", "base_url": "http://127.0.0.1:9",
                                       "campaign_id": "cc-1"})
    write_cohort(tmp_path, "loans", "c1", indian_numbers(20))
    assert len(plan_dispatch(campaign, tmp_path, NOW).pending) == 2
    write_cohort(tmp_path, "loans", "c2", indian_numbers(10, start=100))
    with pytest.raises(CampaignLimitError) as refused:
        plan_dispatch(campaign, tmp_path, NOW)
    assert "30 recipients (20 already batched, 10 waiting), more than the 25" in str(refused.value)
    assert len(Outbox(tmp_path, "loans").batches()) == 2  # nothing more was planned


def test_cometchat_uploads_do_not_wait_for_schedule_at(tmp_path: Path) -> None:
    later = NOW + dt.timedelta(days=2)
    write_cohort(tmp_path, "loans", "c1", indian_numbers(5))
    cometchat = make_campaign(schedule_at=later, provider={
        "kind": "cometchat", "base_url": "http://127.0.0.1:9", "campaign_id": "cc-1"})
    other = make_campaign(schedule_at=later)
    assert plan_dispatch(cometchat, tmp_path, NOW, write=False).may_send
    assert not plan_dispatch(other, tmp_path, NOW, write=False).may_send


def test_no_cohortflow_retries_for_a_provider_that_retries_itself() -> None:
    retry = {"max_retries": 2, "retry_on": {"busy": {"enabled": True}}}
    busy = Outcome(outcome_id="o1", campaign_id="loans", cohort_id="c1", row_number=2,
                   attempt=0, idempotency_key="loans:c1:000001:0", outcome="busy",
                   duration_seconds=None, at=NOW.isoformat())
    sarvam = _sarvam("http://127.0.0.1:9", retry_config=retry)
    other = make_campaign(retry_config=retry)
    assert not decide_retry(busy, sarvam, "+919800000000").retry
    assert "the provider retries by retry_config itself" in decide_retry(
        busy, sarvam, "+919800000000").reason
    assert decide_retry(busy, other, "+919800000000").retry
