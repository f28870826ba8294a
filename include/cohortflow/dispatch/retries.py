"""The retries that call outcomes call for under a campaign's ``retry_config``.

Retry rules (Sarvam's ``retry_config``): ``busy``, ``failed`` and ``no_answer`` are retried
when enabled, up to ``max_retries`` retries, after ``retry_interval_minutes[n-1]`` (the last
interval repeats). ``short_duration`` is a ``completed`` call shorter than
``threshold_seconds``, under the same budget. ``provider_error`` and ``internal_error`` use
their own ``max_retries`` and ``retry_interval_minutes``. The retry time is the outcome time
plus the interval, moved to the next allowed window for that recipient (never after
``end_timestamp``). Retries are computed from the ledgers each time, so they are never
scheduled twice; dispatch turns the due ones into batches of attempt ``n`` (a new key).
A provider that is sent ``retry_config`` and retries by it (Sarvam) gets no retries from
cohortflow: a call retried by both would be made twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from cohortflow.config import CampaignConfig
from cohortflow.dispatch.cohorts import recipient_phones
from cohortflow.dispatch.outcomes import Outcome, read_outcomes
from cohortflow.dispatch.windows import next_open, recipient_zones
from cohortflow.providers import provider_retries

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryDecision:
    """Whether and when a recipient is called again after its latest outcome."""

    cohort_id: str
    row_number: int
    attempt: int  # the attempt the retry would be (latest + 1)
    kind: str | None  # busy, no_answer, failed, short_duration, provider_error, internal_error
    retry: bool
    due_at: dt.datetime | None
    reason: str



def classify(outcome: Outcome, campaign: CampaignConfig) -> str | None:
    """The retry kind of an outcome, or None for a successful call."""
    if outcome.outcome == "completed":
        short = campaign.retry_config.retry_on.short_duration
        duration = outcome.duration_seconds
        if short.enabled and duration is not None and duration < short.threshold_seconds:
            return "short_duration"
        return None
    return outcome.outcome


def decide_retry(
    outcome: Outcome, campaign: CampaignConfig, phone: str | None
) -> RetryDecision:
    """Whether the recipient of ``outcome`` is retried, and when (inside an allowed window)."""
    config = campaign.retry_config
    kind = classify(outcome, campaign)
    attempt = outcome.attempt + 1

    def no(reason: str) -> RetryDecision:
        return RetryDecision(outcome.cohort_id, outcome.row_number, attempt, kind, False, None,
                             reason)

    if kind is None:
        return no("completed")
    if provider_retries(campaign):
        return no(f"{kind}: the provider retries by retry_config itself")
    if kind in ("provider_error", "internal_error"):
        rule = getattr(config.retry_on, kind)
        enabled, limit = rule.enabled, rule.max_retries
        interval = dt.timedelta(minutes=rule.retry_interval_minutes)
    else:
        enabled = getattr(config.retry_on, kind).enabled
        limit, interval = config.max_retries, config.interval_for(attempt)
    if not enabled:
        return no(f"{kind} retries are disabled")
    if attempt > limit:
        return no(f"{kind}: max_retries {limit} reached")
    earliest = outcome.at_time + interval
    zones = recipient_zones(campaign, phone)
    due = next_open(earliest, campaign.allowed_schedule, zones, until=campaign.end_timestamp)
    if due is None:
        return no(f"{kind}: no allowed window before the campaign ends")
    return RetryDecision(outcome.cohort_id, outcome.row_number, attempt, kind, True, due,
                         f"{kind}: retry {attempt} of {limit}")


def schedule_retries(campaign: CampaignConfig, warehouse: Path) -> list[RetryDecision]:
    """A decision for each recipient's latest outcome (computed, so never duplicated)."""
    latest: dict[tuple[str, int], Outcome] = {}
    for outcome in read_outcomes(campaign, warehouse):
        key = (outcome.cohort_id, outcome.row_number)
        current = latest.get(key)
        if current is None or (outcome.attempt, outcome.at_time) >= (
            current.attempt,
            current.at_time,
        ):
            latest[key] = outcome
    phones: dict[str, dict[int, str | None]] = {}
    decisions = []
    for (cohort_id, row), outcome in sorted(latest.items()):
        if cohort_id not in phones:
            cohort = recipient_phones(warehouse, campaign.campaign_id, cohort_id)
            phones[cohort_id] = dict(zip(cohort.row_numbers, cohort.phones, strict=True))
        decision = decide_retry(outcome, campaign, phones[cohort_id][row])
        log.debug("recipient %s row %d: %s", cohort_id, row, decision.reason)
        decisions.append(decision)
    return decisions


def due_retries(
    campaign: CampaignConfig, warehouse: Path, now: dt.datetime
) -> list[RetryDecision]:
    """Retries whose time has come at ``now``."""
    return [
        d
        for d in schedule_retries(campaign, warehouse)
        if d.retry and d.due_at is not None and d.due_at <= now
    ]
