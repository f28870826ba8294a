"""What the command modules share: exit codes, options, and how an error is reported."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import NoReturn

import click

from cohortflow.config import CampaignConfig
from cohortflow.errors import CohortflowError

#: The exit code of a command that could not do its job (the error is on stderr).
EXIT_FAILED = 2

WAREHOUSE = click.option(
    "--warehouse", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Warehouse folder (default: COHORTFLOW_WAREHOUSE or ./warehouse).",
)
CAMPAIGNS = click.option(
    "--campaigns", type=click.Path(file_okay=False, path_type=Path),
    help="Folder of campaign YAMLs (default: COHORTFLOW_CAMPAIGNS).",
)
JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def fail(exc: CohortflowError | OSError | LookupError) -> NoReturn:
    """Print ``exc`` as an error on stderr and exit with :data:`EXIT_FAILED`."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_FAILED)


def default_warehouse() -> Path:
    """The warehouse folder from the settings."""
    from cohortflow.settings import get_settings

    return Path(get_settings().warehouse)


def campaign_named(campaign_id: str, campaigns: Path | None) -> CampaignConfig:
    """The campaign ``campaign_id`` from ``campaigns`` (default: the settings' folder)."""
    from cohortflow.config import campaign_by_id
    from cohortflow.settings import get_settings

    return campaign_by_id(campaign_id, campaigns or Path(get_settings().campaigns))


def parse_now(value: str | None) -> dt.datetime:
    """``--now`` as an aware datetime (the current time when not given)."""
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"expected ISO 8601 such as 2026-03-02T10:00:00+05:30, got {value!r}",
            param_hint="--now",
        ) from None
    if parsed.tzinfo is None:
        raise click.BadParameter("give a timezone offset, e.g. ...T10:00:00Z", param_hint="--now")
    return parsed
