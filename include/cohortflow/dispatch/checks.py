"""The checks a campaign passes before dispatch sends anything for it.

What the provider would refuse for every batch (credentials, ids, required fields, the
variable names of the campaign's published cohorts) is found here, before the first request,
so that a config error costs no batch: the campaign's dispatch stops with an error naming the
file and the field, and everyone goes out once it is fixed. For a provider that delivers at
``schedule_at`` itself (CometChat's ``scheduledAt``), that time must be inside the allowed
hours and before ``end_timestamp``, since cohortflow's windows no longer decide it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq

from cohortflow.config import CampaignConfig
from cohortflow.dispatch.cohorts import published_cohorts
from cohortflow.dispatch.windows import is_open
from cohortflow.errors import ConfigError
from cohortflow.providers import check_sendable, schedules_delivery
from cohortflow.warehouse import FIXED_RECIPIENT_COLUMNS, RECIPIENTS_FILE, cohort_dir


def cohort_variables(campaign: CampaignConfig, warehouse: Path) -> list[str]:
    """The variable and override columns of the campaign's published cohorts, in first-seen
    order (read from the Parquet schemas only)."""
    names: dict[str, None] = {}
    for cohort_id in published_cohorts(warehouse, campaign.campaign_id):
        path = cohort_dir(warehouse, campaign.campaign_id, cohort_id) / RECIPIENTS_FILE
        for name in pq.read_schema(path).names:
            if name not in FIXED_RECIPIENT_COLUMNS:
                names.setdefault(name)
    return list(names)


def schedule_problems(campaign: CampaignConfig) -> list[str]:
    """Where a provider delivers at ``schedule_at``: that time is allowed."""
    when = campaign.schedule_at
    if when is None or not schedules_delivery(campaign):
        return []
    if campaign.end_timestamp is not None and when >= campaign.end_timestamp:
        return ["schedule_at: the provider delivers everyone at schedule_at, which is not "
                "before end_timestamp; move one of them"]
    if not is_open(when.astimezone(dt.UTC), campaign.allowed_schedule, ()):
        return ["schedule_at: the provider delivers everyone at schedule_at, which is outside "
                "allowed_schedule; choose a time inside the allowed hours"]
    return []


def check_campaign(campaign: CampaignConfig, warehouse: Path) -> None:
    """Raise :class:`~cohortflow.errors.ConfigError` (every problem, one line each) when the
    campaign's provider would refuse its batches or deliver outside its allowed hours."""
    problems = schedule_problems(campaign)
    if problems:
        raise ConfigError("\n".join(f"{campaign.source}: {p}" for p in problems),
                          code="provider_config")
    check_sendable(campaign, cohort_variables(campaign, warehouse))
