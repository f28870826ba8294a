"""The checks a campaign passes before dispatch sends anything for it.

What the provider would refuse for every batch (credentials, ids, required fields, the
variable names of the campaign's published cohorts) is found here, before the first request,
so that a config error costs no batch: the campaign's dispatch stops with an error naming the
file and the field, and everyone goes out once it is fixed.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from cohortflow.config import CampaignConfig
from cohortflow.dispatch.cohorts import published_cohorts
from cohortflow.providers import check_sendable
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


def check_campaign(campaign: CampaignConfig, warehouse: Path) -> None:
    """Raise :class:`~cohortflow.errors.ConfigError` (every problem, one line each) when the
    campaign's provider would refuse its batches."""
    check_sendable(campaign, cohort_variables(campaign, warehouse))
