"""The bodies of the dispatch DAGs' tasks: one function per task, small inputs and outputs.

Every function takes and returns plain ids, dicts and counts (XCom-sized), reads campaign
configs from the campaigns folder and uses the warehouse from the settings, so that a task
can run on any worker. They call the same library functions as the CLI.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from cohortflow.config import CampaignConfig, load_campaign
from cohortflow.errors import CohortflowError, ConfigError
from cohortflow.settings import get_settings

if TYPE_CHECKING:
    from cohortflow.campaign_state import Action

log = logging.getLogger(__name__)


def _warehouse() -> Path:
    return Path(get_settings().warehouse)


def load_campaigns(campaigns_dir: Path | None = None) -> list[CampaignConfig]:
    """Every valid campaign config; invalid ones are logged (with file and field) and skipped."""
    folder = campaigns_dir or Path(get_settings().campaigns)
    found = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            found.append(load_campaign(path))
        except ConfigError as exc:
            log.error("skipping campaign config: %s", exc)
    return found


def campaign_by_id(campaign_id: str, campaigns_dir: Path | None = None) -> CampaignConfig:
    """The campaign config named ``campaign_id``; a clear error when there is none."""
    folder = campaigns_dir or Path(get_settings().campaigns)
    for suffix in (".yaml", ".yml"):
        if (folder / f"{campaign_id}{suffix}").is_file():
            return load_campaign(folder / f"{campaign_id}{suffix}")
    raise ConfigError(f"{folder}: no {campaign_id}.yaml; is the campaign id right?")


def plan_provider(kind: str, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Plan every campaign using provider ``kind``; the refs of batches to submit.

    A campaign that cannot be planned (settings changed while active, unreadable cohort) is
    logged and skipped so the others still go out.
    """
    from cohortflow.dispatch import end_if_due, plan_dispatch

    now = now or dt.datetime.now(dt.UTC)
    warehouse = _warehouse()
    refs: list[dict[str, Any]] = []
    for campaign in load_campaigns():
        if campaign.provider is None or campaign.provider.kind != kind:
            continue
        try:
            end_if_due(campaign, warehouse, now)
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
    from cohortflow.dispatch import submit_batch
    from cohortflow.outbox import BatchRef
    from cohortflow.ratelimit import TokenBucket

    batch_ref = BatchRef.from_dict(ref)
    campaign = campaign_by_id(batch_ref.campaign_id)
    bucket = TokenBucket(float(campaign.attempts_per_second), campaign.batch_size)
    outcome = submit_batch(batch_ref, campaign, _warehouse(), None, bucket, now=now)
    log.info("batch %s: %s %s", batch_ref.idempotency_key, outcome.status, outcome.detail)
    return outcome.as_dict()


def record_all() -> dict[str, int]:
    """Cohort webhooks, then rebuild the catalog's ``batches`` and ``deliveries``."""
    from cohortflow.dispatch_catalog import record_dispatch
    from cohortflow.webhooks import notify_cohorts

    warehouse = _warehouse()
    campaigns = load_campaigns()
    for campaign in campaigns:
        notify_cohorts(campaign, warehouse)
    return record_dispatch(warehouse, campaigns)


def collect_all_outcomes(now: dt.datetime | None = None) -> dict[str, Any]:
    """Ingest outcomes of every campaign with a provider; counts of new outcomes and retries."""
    from cohortflow.outcomes import collect_outcomes, schedule_retries

    warehouse = _warehouse()
    summary: dict[str, Any] = {}
    for campaign in load_campaigns():
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


def control(campaign_id: str, action: str) -> dict[str, Any]:
    """Pause, resume or cancel a campaign (the control DAG's only task)."""
    from cohortflow.campaign_state import CampaignStateError, change_status

    if action not in ("pause", "resume", "cancel"):
        raise CampaignStateError(f"unknown action {action!r}; use pause, resume or cancel")
    state = change_status(campaign_by_id(campaign_id), _warehouse(),
                          cast("Action", action), actor="airflow")
    return state.as_dict()
