"""The bodies of the dispatch DAGs' tasks: one function per task, small inputs and outputs.

Every function takes and returns plain ids, dicts and counts (XCom-sized), reads campaign
configs from the campaigns folder and uses the warehouse from the settings, so that a task
can run on any worker. They call the same library functions as the CLI.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any, cast

from cohortflow.config import CampaignConfig, campaign_by_id, load_campaigns
from cohortflow.dispatch.campaign_state import Action, CampaignStateError, change_status
from cohortflow.dispatch.catalog_tables import record_dispatch
from cohortflow.dispatch.checks import check_campaign
from cohortflow.dispatch.delivery import start_delivery
from cohortflow.dispatch.outbox import BatchRef
from cohortflow.dispatch.outcomes import collect_outcomes
from cohortflow.dispatch.pacing import TokenBucket
from cohortflow.dispatch.plan import plan_dispatch
from cohortflow.dispatch.provider_setup import (
    prepare_provider,
    push_settings,
    with_provider_campaign,
)
from cohortflow.dispatch.resolve import Resolution, ResolveError, resolve_batch, retry_failed
from cohortflow.dispatch.retries import schedule_retries
from cohortflow.dispatch.run import end_if_due
from cohortflow.dispatch.submit import submit_batch
from cohortflow.dispatch.webhooks import notify_cohorts
from cohortflow.errors import CohortflowError
from cohortflow.providers import adapter_for, schedules_delivery
from cohortflow.settings import get_settings

log = logging.getLogger(__name__)

#: The actions the ``campaign_control`` DAG offers: status changes, and what an operator does
#: with batches dispatch could not finish (docs/dispatch.md, "Delivery outcomes").
STATUS_ACTIONS = ("pause", "resume", "cancel")
BATCH_ACTIONS = ("retry_failed", "resolve_delivered", "resolve_resend")
PROVIDER_ACTIONS = ("sync",)
CONTROL_ACTIONS = STATUS_ACTIONS + PROVIDER_ACTIONS + BATCH_ACTIONS


def _warehouse() -> Path:
    return Path(get_settings().warehouse)


def _campaigns() -> list[CampaignConfig]:
    return load_campaigns(Path(get_settings().campaigns))


def plan_provider(kind: str, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Plan every campaign using provider ``kind``; the refs of batches to submit.

    A campaign that cannot be planned (provider settings the provider would refuse or that
    it has not taken yet, settings changed while active, an unreadable cohort) is logged and
    skipped so the others still go out; none of its batches is written or marked.
    """
    now = now or dt.datetime.now(dt.UTC)
    warehouse = _warehouse()
    refs: list[dict[str, Any]] = []
    for campaign in _campaigns():
        if campaign.provider is None or campaign.provider.kind != kind:
            continue
        try:
            check_campaign(campaign, warehouse)
            end_if_due(campaign, warehouse, now)
            blocked = prepare_provider(campaign, warehouse)
            if blocked is not None:
                log.warning("campaign %s not planned: %s", campaign.campaign_id, blocked)
                continue
            plan = plan_dispatch(campaign, warehouse, now)
        except (CohortflowError, OSError, LookupError) as exc:
            log.error("campaign %s not planned: %s", campaign.campaign_id, exc)
            continue
        log.info("campaign %s: %s; %d batches to send, %d recipients deferred",
                 campaign.campaign_id, plan.reason, len(plan.pending), plan.deferred_recipients)
        refs += plan.refs()
    return refs


def submit_ref(ref: dict[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
    """Submit one batch (paced by its planned send time; one batch per task)."""
    batch_ref = BatchRef.from_dict(ref)
    campaign = campaign_by_id(batch_ref.campaign_id, Path(get_settings().campaigns))
    bucket = TokenBucket(float(campaign.attempts_per_second), campaign.batch_size)
    outcome = submit_batch(batch_ref, campaign, _warehouse(), None, bucket, now=now)
    log.info("batch %s: %s %s", batch_ref.idempotency_key, outcome.status, outcome.detail)
    return outcome.as_dict()


def deliver_all(now: dt.datetime | None = None) -> dict[str, Any]:
    """Start delivery of every campaign whose provider has a send step (CometChat), once per
    dispatch run, for the batches uploaded since its last send."""
    warehouse = _warehouse()
    summary: dict[str, Any] = {}
    for campaign in _campaigns():
        if not schedules_delivery(campaign):
            continue
        try:
            adapter = adapter_for(with_provider_campaign(campaign, warehouse))
            step = start_delivery(campaign, warehouse, adapter, now)
        except (CohortflowError, OSError, LookupError) as exc:
            log.error("campaign %s: delivery not started: %s", campaign.campaign_id, exc)
            continue
        if step is not None:
            summary[campaign.campaign_id] = step.as_dict()
    return summary


def record_all() -> dict[str, int]:
    """Cohort webhooks, then rebuild the catalog's ``batches`` and ``deliveries``."""
    warehouse = _warehouse()
    campaigns = _campaigns()
    for campaign in campaigns:
        notify_cohorts(campaign, warehouse)
    return record_dispatch(warehouse, campaigns)


def collect_all_outcomes(now: dt.datetime | None = None) -> dict[str, Any]:
    """Ingest outcomes of every campaign with a provider; counts of new outcomes and retries."""
    warehouse = _warehouse()
    summary: dict[str, Any] = {}
    for campaign in _campaigns():
        if campaign.provider is None:
            continue
        try:
            report = collect_outcomes(campaign, warehouse, now=now)
            retries = sum(d.retry for d in schedule_retries(campaign, warehouse))
        except (CohortflowError, OSError, LookupError) as exc:
            log.error("campaign %s: outcomes not collected: %s", campaign.campaign_id, exc)
            continue
        summary[campaign.campaign_id] = {"new": report.new, "retries_scheduled": retries}
    return summary


def control(campaign_id: str, action: str, batch_id: str | None = None) -> dict[str, Any]:
    """Apply one operator action to a campaign (the control DAG's only task): pause, resume
    or cancel it, push its settings to the provider (``sync``), release its failed batches,
    or resolve its unconfirmed batch ``batch_id``."""
    if action not in CONTROL_ACTIONS:
        raise CampaignStateError(
            f"unknown action {action!r}; use one of {', '.join(CONTROL_ACTIONS)}")
    campaign = campaign_by_id(campaign_id, Path(get_settings().campaigns))
    warehouse = _warehouse()
    if action in STATUS_ACTIONS:
        state = change_status(campaign, warehouse, cast("Action", action), actor="airflow")
        return state.as_dict()
    if action == "sync":
        return push_settings(campaign, warehouse, actor="airflow", force=True).as_dict()
    if action == "retry_failed":
        released = retry_failed(campaign, warehouse, actor="airflow")
        return {"released": [view.as_dict() for view in released],
                "recipients": sum(view.recipients for view in released)}
    if not batch_id:
        raise ResolveError(f"{action} needs the batch id (cohortflow batch list shows it)")
    resolution: Resolution = "delivered" if action == "resolve_delivered" else "resend"
    return resolve_batch(campaign, warehouse, batch_id, resolution, actor="airflow").as_dict()
