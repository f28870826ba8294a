"""``cohortflow campaigns``: where each campaign's recipients stand (sent, waiting, failed)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from cohortflow.errors import CohortflowError


def campaign_progress(warehouse: Path, campaigns_dir: Path, sql_dir: Path) -> list[dict[str, Any]]:
    """Per campaign: recipients sent / waiting / failed / cancelled / rejected, what the
    provider reported (confirmed, refused, unreported), and when it may send next (or what
    blocks it at the provider)."""
    from cohortflow.config import find_campaign
    from cohortflow.dispatch import campaign_gate, read_state
    from cohortflow.dispatch.provider_setup import attention
    from cohortflow.sqlfiles import render_sql
    from cohortflow.warehouse import catalog

    with catalog.reader(warehouse) as conn:
        tables = {row[0] for row in conn.execute("show tables").fetchall()}
        query = render_sql(sql_dir, "ui/02_campaign_counts.sql",
                           has_deliveries="deliveries" in tables, has_batches="batches" in tables)
        cursor = conn.execute(query)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    now = dt.datetime.now(dt.UTC)
    for row in rows:
        try:
            campaign = find_campaign(campaigns_dir, row["campaign_id"])
            state = read_state(campaign, warehouse)
            gate = campaign_gate(campaign.model_copy(update={"status": state.status}), now,
                                 activated_at=state.activated_at)
            row["status"] = state.status
            row["may_send_now"] = gate.may_send
            row["next_window"] = gate.not_before.isoformat() if gate.not_before else None
            row["note"] = attention(campaign, warehouse) or gate.reason
        except CohortflowError as exc:
            row["note"] = exc.message
    return rows


@click.command()
@click.option("--warehouse", type=click.Path(file_okay=False, path_type=Path),
              help="Warehouse folder (default: COHORTFLOW_WAREHOUSE).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def campaigns(warehouse: Path | None, as_json: bool) -> None:
    """Show each campaign's recipients: sent, unconfirmed (the provider may have them; resolve
    with `cohortflow batch resolve`), waiting for a window or retry, failed, rejected by the
    provider by name; and what the providers reported about those they took in.

    \b
    Example:
      cohortflow campaigns --warehouse warehouse
    """
    from cohortflow.settings import get_settings

    settings = get_settings()
    try:
        rows = campaign_progress(warehouse or Path(settings.warehouse),
                                 Path(settings.campaigns), Path(settings.sql_dir))
    except CohortflowError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    header = (f"{'campaign':<16} {'status':<10} {'recipients':>10} {'sent':>6} "
              f"{'unconfirmed':>11} {'waiting':>8} {'failed':>7} {'rejected':>8} "
              f"{'confirmed':>9} {'refused':>7} {'unreported':>10}  next")
    click.echo(header)
    click.echo("-" * len(header))
    for row in rows:
        click.echo(
            f"{row['campaign_id']:<16} {row.get('status', '?'):<10} {row['recipients']:>10} "
            f"{row['sent']:>6} {row['unconfirmed']:>11} {row['waiting']:>8} {row['failed']:>7} "
            f"{row['rejected']:>8} {row['confirmed']:>9} {row['provider_rejected']:>7} "
            f"{row['unreported']:>10}  {row.get('note', '')}"
        )
    click.echo("rejected: refused by the provider by name; confirmed / refused / unreported: "
               "what the providers reported about the recipients they took in")
