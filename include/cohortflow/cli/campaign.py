"""``cohortflow campaign ...``: an operator's actions on one campaign.

Status changes (pause, resume, cancel), what the provider holds (``sync``, ``send``),
``status`` and ``retry-failed``; the same functions the ``campaign_control`` DAG runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from cohortflow.cli.common import (
    CAMPAIGNS,
    EXIT_FAILED,
    JSON,
    WAREHOUSE,
    campaign_named,
    default_warehouse,
    fail,
)
from cohortflow.errors import CohortflowError, ProviderError

if TYPE_CHECKING:
    from cohortflow.dispatch.campaign_state import Action


@click.group()
def campaign() -> None:
    """Pause, resume or cancel a campaign, show its status, push its settings to the provider,
    send it (CometChat), or retry its failed batches.

    Settings may change only while a campaign is paused or scheduled: pause, edit the YAML,
    then resume (which records the new settings). Dispatch pushes changed settings to the
    provider (Sarvam) before any upload; `campaign sync` does it now.

    \b
    Example:
      cohortflow campaign pause loans --warehouse warehouse
      cohortflow campaign resume loans
    """


def _status_command(action: str) -> click.Command:
    @click.command(name=action, help=(
        f"{action.capitalize()} a campaign (recorded in the warehouse's campaign-state ledger)."
        f"\n\n\b\nExample:\n  cohortflow campaign {action} loans --warehouse warehouse"
    ))
    @click.argument("campaign_id")
    @WAREHOUSE
    @CAMPAIGNS
    @JSON
    def command(
        campaign_id: str, warehouse: Path | None, campaigns: Path | None, as_json: bool
    ) -> None:
        from cohortflow.dispatch import change_status

        try:
            config = campaign_named(campaign_id, campaigns)
            target = warehouse or default_warehouse()
            state = change_status(config, target, cast("Action", action))
        except CohortflowError as exc:
            fail(exc)
            return
        if as_json:
            click.echo(json.dumps(state.as_dict(), indent=2))
        else:
            click.echo(f"campaign {campaign_id} is now {state.status}")

    return command


for _action in ("pause", "resume", "cancel"):
    campaign.add_command(_status_command(_action))


@campaign.command(name="retry-failed")
@click.argument("campaign_id")
@WAREHOUSE
@CAMPAIGNS
@JSON
def retry_failed(campaign_id: str, warehouse: Path | None, campaigns: Path | None,
                 as_json: bool) -> None:
    """Plan again the recipients of the campaign's failed batches (refused by the provider, or
    never sent), once the cause is fixed: the next dispatch sends them in new batches.

    \b
    Example:
      cohortflow campaign retry-failed loans --warehouse warehouse
    """
    from cohortflow.dispatch import retry_failed as release_failed

    try:
        released = release_failed(campaign_named(campaign_id, campaigns),
                                  warehouse or default_warehouse())
    except CohortflowError as exc:
        fail(exc)
    if as_json:
        click.echo(json.dumps([view.as_dict() for view in released], indent=2))
        return
    recipients = sum(view.recipients for view in released)
    click.echo(f"campaign {campaign_id}: {len(released)} failed batches released; "
               f"{recipients} recipients go out with the next dispatch")


@campaign.command(name="status")
@click.argument("campaign_id")
@WAREHOUSE
@CAMPAIGNS
@JSON
def status(campaign_id: str, warehouse: Path | None, campaigns: Path | None,
           as_json: bool) -> None:
    """Show a campaign's effective status, activation time, whether its settings changed,
    whether the provider holds them (and what to do if not), and its provider sends.

    \b
    Example:
      cohortflow campaign status loans --warehouse warehouse
    """
    from cohortflow.dispatch import read_state
    from cohortflow.dispatch.delivery import delivery_summary
    from cohortflow.dispatch.provider_setup import settings_state

    target = warehouse or default_warehouse()
    try:
        config = campaign_named(campaign_id, campaigns)
        state = read_state(config, target)
        provider_settings = settings_state(config, target)
        delivery = delivery_summary(config, target)
    except CohortflowError as exc:
        fail(exc)
        return
    data = state.as_dict()
    data["settings_changed"] = (
        state.fingerprint is not None and state.fingerprint != config.settings_fingerprint()
    )
    data["provider_settings"] = provider_settings.as_dict()
    data["delivery"] = delivery
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"campaign {campaign_id}: {state.status}")
    click.echo(f"  activated at: {data['activated_at'] or '-'}")
    click.echo(f"  last change:  {data['updated_at'] or '-'}")
    if data["settings_changed"]:
        click.echo("  settings changed since last recorded"
                   + ("; pause it first" if state.status == "active" else ""))
    if provider_settings.applies:
        mark = "in sync" if provider_settings.in_sync else "NOT in sync"
        click.echo(f"  provider settings: {mark}: {provider_settings.detail}")
    if delivery is not None:
        last = delivery["last"] or {}
        click.echo(f"  provider sends: {delivery['sends']}; last {last.get('status', '-')} "
                   f"{last.get('at') or ''}; {delivery['waiting_recipients']} recipients "
                   f"uploaded and not sent yet")
        if delivery["unconfirmed_batches"]:
            click.echo(f"  warning: a send's outcome is unknown ({delivery['unconfirmed_batches']}"
                       " batches): check with the provider; if it did not send them, run "
                       f"`cohortflow campaign send {campaign_id}`", err=True)


@campaign.command(name="sync")
@click.argument("campaign_id")
@click.option("--dry-run", is_flag=True,
              help="Print the request (secrets and phone numbers masked); send nothing.")
@WAREHOUSE
@CAMPAIGNS
@JSON
def sync(campaign_id: str, dry_run: bool, warehouse: Path | None, campaigns: Path | None,
         as_json: bool) -> None:
    """Push the campaign's settings (hours, end, rate, caller ids, retries, webhook) to the
    provider now, as dispatch does before any upload when the YAML changed (Sarvam's
    campaign update; it takes them only while its campaign is paused or scheduled).

    \b
    Example:
      cohortflow campaign sync loans --dry-run
      COHORTFLOW_PROVIDER_SARVAM_KEY=... cohortflow campaign sync loans
    """
    from cohortflow.dispatch.provider_setup import push_settings, settings_preview

    try:
        config = campaign_named(campaign_id, campaigns)
        if dry_run:
            preview = settings_preview(config)
            if preview is None:
                fail(ProviderError(f"campaign {campaign_id}: its provider has no campaign "
                                   "settings to push", code="provider_config"))
            click.echo(json.dumps(preview, indent=2))
            return
        state = push_settings(config, warehouse or default_warehouse(), actor="cli",
                              force=True)
    except CohortflowError as exc:
        fail(exc)
        return
    if as_json:
        click.echo(json.dumps(state.as_dict(), indent=2))
    elif not state.applies:
        click.echo(f"campaign {campaign_id}: its provider has no campaign settings to push")
    else:
        click.echo(f"campaign {campaign_id}: {state.detail}")
    if state.applies and not state.in_sync:
        sys.exit(EXIT_FAILED)


@campaign.command(name="send")
@click.argument("campaign_id")
@WAREHOUSE
@CAMPAIGNS
@JSON
def send(campaign_id: str, warehouse: Path | None, campaigns: Path | None,
         as_json: bool) -> None:
    """Send the campaign at the provider (CometChat's send step) for every uploaded batch no
    send has delivered, including those of a send whose outcome is unknown: run it only once
    the provider shows that send did not happen. Dispatch sends once per run by itself.

    \b
    Example:
      cohortflow campaign send offers --warehouse warehouse
    """
    from cohortflow.dispatch.delivery import start_delivery
    from cohortflow.dispatch.provider_setup import with_provider_campaign
    from cohortflow.providers import adapter_for

    target = warehouse or default_warehouse()
    try:
        config = campaign_named(campaign_id, campaigns)
        adapter = adapter_for(with_provider_campaign(config, target))
        step = start_delivery(config, target, adapter, again=True, actor="cli")
    except CohortflowError as exc:
        fail(exc)
        return
    if as_json:
        click.echo(json.dumps(step.as_dict() if step else None, indent=2))
        return
    if step is None:
        click.echo(f"campaign {campaign_id}: nothing to send (no send step, or every uploaded "
                   "batch was sent)")
        return
    click.echo(f"campaign {campaign_id}: send {step.status} for {step.recipients} recipients in "
               f"{step.batches} batches {step.detail}".rstrip())
    if step.status not in ("sent", "waiting"):
        sys.exit(EXIT_FAILED)
