"""``cohortflow dispatch | plan | outcomes``: dispatch from the command line.

The same library functions the Airflow DAGs call; credentials come from environment
variables (``COHORTFLOW_PROVIDER_<CONN_ID or KIND>_KEY``, see ``providers/credentials.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cohortflow.cli.common import (
    JSON,
    WAREHOUSE,
    default_warehouse,
    fail,
    parse_now,
)
from cohortflow.errors import CohortflowError

if TYPE_CHECKING:
    pass

def _show_time(value: dt.datetime | None, zone: Any) -> str:
    return value.astimezone(zone).isoformat(timespec="minutes") if value else "no window"


_CAMPAIGN = click.option(
    "--campaign", "campaign_path", required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Campaign YAML (allowed_schedule, rate, batch_size, provider, retry_config ...).",
)
_NOW = click.option(
    "--now", "now_text", metavar="ISO8601",
    help="Fix the clock for windows and the campaign gate, e.g. 2026-03-02T10:00:00+05:30.",
)


@click.command()
@_CAMPAIGN
@WAREHOUSE
@_NOW
@click.option("--dry-run", is_flag=True, help="Plan only: write nothing, send nothing.")
@click.option("--no-record", is_flag=True, help="Do not refresh the catalog tables afterwards.")
@JSON
def dispatch(
    campaign_path: Path, warehouse: Path | None, now_text: str | None, dry_run: bool,
    no_record: bool, as_json: bool,
) -> None:
    """Send every recipient due now, in batches, once; print what was sent, deferred, failed.

    Recipients outside their allowed window wait (the output says until when). Re-running is
    safe: batches already answered are skipped, interrupted ones are re-sent with the same
    Idempotency-Key.

    \b
    Example:
      COHORTFLOW_PROVIDER_SARVAM_KEY=... cohortflow dispatch \\
        --campaign include/campaigns/loans.yaml --warehouse warehouse \\
        --now 2026-03-02T10:00:00+05:30
    """
    from cohortflow.config import load_campaign
    from cohortflow.dispatch import run_dispatch

    now = parse_now(now_text)
    warehouse = warehouse or default_warehouse()
    try:
        campaign = load_campaign(campaign_path)
        from cohortflow.cli.progress import bar

        with bar(f"dispatching {campaign.campaign_id}") as advance:
            report = run_dispatch(campaign, warehouse, now, dry_run=dry_run, on_batch=advance)
        if not dry_run:
            from cohortflow.dispatch import notify_cohorts

            notify_cohorts(campaign, warehouse)
            if not no_record:
                from cohortflow.dispatch import record_dispatch

                record_dispatch(warehouse, [campaign])
    except (CohortflowError, OSError, LookupError) as exc:
        fail(exc)
        return
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    zone = campaign.allowed_schedule.zone
    plan = report.plan
    click.echo(f"campaign {plan.campaign_id}  status={plan.status}  at "
               f"{plan.now.astimezone(zone).isoformat(timespec='minutes')}  ({plan.reason})")
    if dry_run:
        click.echo(f"  dry run: would send {sum(len(b.rows) for b in plan.pending)} recipients "
                   f"in {len(plan.pending)} batches")
    for outcome in report.outcomes:
        until = f" until {_show_time(outcome.until, zone)}" if outcome.status == "deferred" else ""
        click.echo(f"  {outcome.status:<11} {outcome.ref.idempotency_key}  "
                   f"{outcome.recipients} recipients{until}  {outcome.detail}".rstrip())
    for item in plan.deferred:
        where = f" ({', '.join(item.zones)})" if item.zones else ""
        click.echo(f"  deferred    {item.recipients} recipients{where} until "
                   f"{_show_time(item.until, zone)}: {item.reason}")
    if report.delivery is not None:
        step = report.delivery
        when = f" at {step.scheduled_at}" if step.scheduled_at else ""
        click.echo(f"  provider send {step.status}{when}: {step.recipients} recipients in "
                   f"{step.batches} batches {step.detail}".rstrip())
    click.echo(f"sent {report.count('submitted')}, failed {report.count('failed')}, "
               f"unconfirmed {report.count('unconfirmed')}, "
               f"to retry {report.count('retry_later')}, deferred "
               f"{plan.deferred_recipients + report.count('deferred')}")
    if report.count("unconfirmed"):
        click.echo(f"warning: {report.count('unconfirmed')} recipients are in unconfirmed batches "
                   "(the provider may have them; they are not sent again by themselves): "
                   f"cohortflow batch list --campaign {plan.campaign_id} --status unconfirmed",
                   err=True)
    if report.count("failed"):
        sys.exit(1)


@click.command()
@_CAMPAIGN
@WAREHOUSE
@_NOW
@JSON
def plan(campaign_path: Path, warehouse: Path | None, now_text: str | None, as_json: bool) -> None:
    """Show upcoming windows and how many recipients each will take at the configured rate.

    Warns when not everyone can be reached before end_timestamp. Sends nothing.

    \b
    Example:
      cohortflow plan --campaign include/campaigns/loans.yaml --warehouse warehouse
    """
    from cohortflow.config import load_campaign
    from cohortflow.dispatch import forecast

    now = parse_now(now_text)
    warehouse = warehouse or default_warehouse()
    try:
        campaign = load_campaign(campaign_path)
        result = forecast(campaign, warehouse, now)
    except (CohortflowError, OSError, LookupError) as exc:
        fail(exc)
        return
    zone = campaign.allowed_schedule.zone
    rows = result.as_rows(zone)
    if as_json:
        click.echo(json.dumps({"windows": rows, "planned": result.planned,
                               "unreachable": result.unreachable,
                               "warnings": result.warnings}, indent=2))
        return
    click.echo(f"campaign {campaign.campaign_id}: {campaign.attempts_per_second}/s, "
               f"times in {campaign.allowed_schedule.timezone}")
    if rows:
        click.echo(f"  {'opens':<26} {'closes':<26} {'recipients':>10} {'capacity':>10}  zones")
    for row in rows:
        click.echo(f"  {row['opens_at']!s:<26} {row['closes_at']!s:<26} "
                   f"{row['recipients']:>10} {row['capacity']:>10}  {row['zones']}")
    click.echo(f"planned {result.planned}, unreachable {result.unreachable}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)


@click.command()
@_CAMPAIGN
@WAREHOUSE
@_NOW
@click.option("--file", "source_file", type=click.Path(exists=True, dir_okay=False,
                                                        path_type=Path),
              help="JSON-lines outcomes (providers other than the sandbox).")
@click.option("--no-record", is_flag=True, help="Do not refresh the catalog tables afterwards.")
@JSON
def outcomes(campaign_path: Path, warehouse: Path | None, now_text: str | None,
             source_file: Path | None, no_record: bool, as_json: bool) -> None:
    """Ingest call outcomes and show the retries they schedule under retry_config.

    Without --file the outcomes are fetched from the provider's sandbox
    (GET /_sandbox/outcomes). Retries are sent by the next `cohortflow dispatch`.

    \b
    Example:
      cohortflow outcomes --campaign include/campaigns/loans.yaml --warehouse warehouse
      cohortflow outcomes --campaign loans.yaml --file outcomes.jsonl
    """
    from cohortflow.config import load_campaign
    from cohortflow.dispatch import collect_outcomes, schedule_retries

    now = parse_now(now_text)
    warehouse = warehouse or default_warehouse()
    try:
        config = load_campaign(campaign_path)
        report = collect_outcomes(config, warehouse, source_file=source_file, now=now)
        decisions = schedule_retries(config, warehouse)
        if not no_record:
            from cohortflow.dispatch import record_dispatch

            record_dispatch(warehouse, [config])
    except (CohortflowError, OSError, LookupError) as exc:
        fail(exc)
        return
    retries = [d for d in decisions if d.retry]
    if as_json:
        click.echo(json.dumps({
            "fetched": report.fetched, "new": report.new, "unmatched": report.unmatched,
            "retries": [{"cohort_id": d.cohort_id, "row_number": d.row_number,
                         "attempt": d.attempt, "kind": d.kind,
                         "due_at": d.due_at.isoformat() if d.due_at else None}
                        for d in retries],
        }, indent=2))
        return
    zone = config.allowed_schedule.zone
    click.echo(f"outcomes: {report.new} new of {report.fetched} fetched "
               f"({report.unmatched} not from this campaign)")
    by_kind: dict[str, int] = {}
    for decision in retries:
        by_kind[decision.kind or "?"] = by_kind.get(decision.kind or "?", 0) + 1
    click.echo(f"retries scheduled: {len(retries)}"
               + "".join(f"  {kind}={count}" for kind, count in sorted(by_kind.items())))
    upcoming = sorted(d.due_at for d in retries if d.due_at)
    if upcoming:
        click.echo(f"  first retry at {_show_time(upcoming[0], zone)}")
