"""``cohortflow batch list | resolve``: the batches dispatch could not finish by itself.

An unconfirmed batch may have reached the provider (a timeout or a dropped connection after
the upload, a crash before its answer was recorded) and is never sent again by itself. Check
with the provider, then resolve it: ``--delivered`` when the provider has it, ``--resend`` when
it does not (its recipients go out again in a new batch, with a new key and a new name).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from cohortflow.cli.common import (
    CAMPAIGNS,
    JSON,
    WAREHOUSE,
    campaign_named,
    default_warehouse,
    fail,
)
from cohortflow.errors import CohortflowError

if TYPE_CHECKING:
    from cohortflow.dispatch.resolve import Resolution

STATUSES = ("unconfirmed", "failed", "sent", "pending", "cancelled", "released")


@click.group()
def batch() -> None:
    """List a campaign's batches, or resolve an unconfirmed one.

    \b
    Examples:
      cohortflow batch list --campaign loans --status unconfirmed
      cohortflow batch resolve loans:c1a2:000003:0 --delivered
      cohortflow batch resolve loans:c1a2:000003:0 --resend
    """


@batch.command(name="list")
@click.option("--campaign", "campaign_id", required=True, help="The campaign id.")
@click.option("--status", type=click.Choice(STATUSES),
              help="Only batches in this status (sent = submitted).")
@WAREHOUSE
@CAMPAIGNS
@JSON
def list_command(campaign_id: str, status: str | None, warehouse: Path | None,
                 campaigns: Path | None, as_json: bool) -> None:
    """List the campaign's batches: id, recipients, status, what the last answer meant."""
    from cohortflow.dispatch import list_batches

    try:
        config = campaign_named(campaign_id, campaigns)
        views = list_batches(config, warehouse or default_warehouse(),
                             "submitted" if status == "sent" else status)
    except CohortflowError as exc:
        fail(exc)
    if as_json:
        click.echo(json.dumps([v.as_dict() for v in views], indent=2))
        return
    if not views:
        click.echo(f"campaign {campaign_id}: no batches" + (f" {status}" if status else ""))
        return
    click.echo(f"{'batch':<44} {'recipients':>10}  {'status':<12} {'outcome':<9} detail")
    for view in views:
        click.echo(f"{view.batch_id:<44} {view.recipients:>10}  {view.status:<12} "
                   f"{view.outcome or '-':<9} {view.detail or ''}".rstrip())


@batch.command()
@click.argument("batch_id")
@click.option("--delivered", "resolution", flag_value="delivered",
              help="The provider has the batch: count its recipients as sent.")
@click.option("--resend", "resolution", flag_value="resend",
              help="The provider does not have it: send its recipients again in a new batch.")
@WAREHOUSE
@CAMPAIGNS
@JSON
def resolve(batch_id: str, resolution: str | None, warehouse: Path | None,
            campaigns: Path | None, as_json: bool) -> None:
    """Resolve the unconfirmed batch BATCH_ID (``campaign:cohort:number:attempt``, as
    ``cohortflow batch list`` shows it) after checking with the provider."""
    from cohortflow.dispatch import resolve_batch

    if resolution is None:
        raise click.UsageError("say what the provider has: --delivered or --resend")
    campaign_id = batch_id.split(":", 1)[0]
    try:
        config = campaign_named(campaign_id, campaigns)
        view = resolve_batch(config, warehouse or default_warehouse(), batch_id,
                             cast("Resolution", resolution))
    except CohortflowError as exc:
        fail(exc)
    if as_json:
        click.echo(json.dumps(view.as_dict(), indent=2))
    elif resolution == "delivered":
        click.echo(f"batch {batch_id}: {view.recipients} recipients counted as sent")
    else:
        click.echo(f"batch {batch_id}: released; its {view.recipients} recipients go out in a new "
                   "batch with the next dispatch")
