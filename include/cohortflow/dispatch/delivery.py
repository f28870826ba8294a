"""The delivery step of providers whose uploads reach nobody until the campaign is sent
(CometChat step 3): once per dispatch run, after its uploads, one send covering every batch
uploaded since the last send.

Each send is recorded in ``ledgers/provider_deliveries/<campaign>/``: ``sending`` (with the
batches it covers) just before the request, then what came of it. ``sent`` covers its batches
for good; ``not_sent`` (nothing reached the provider) and ``failed`` (refused) leave them for
the next run; ``unconfirmed`` (no answer, or the sender stopped mid-request) covers them too,
since the page documents no idempotency key and a second send might deliver twice: the
campaign's status says so, and ``cohortflow campaign send`` sends again once an operator has
checked with the provider.

A send without ``scheduledAt`` delivers at once, so it waits for the campaign's gate (status,
allowed hours); with the campaign's ``schedule_at`` still ahead it is sent as ``scheduledAt``,
which dispatch checks lies inside the allowed hours before anything is uploaded.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cohortflow.config import CampaignConfig
from cohortflow.dispatch.campaign_state import effective_campaign, read_state
from cohortflow.dispatch.outbox import Outbox
from cohortflow.dispatch.windows import campaign_gate
from cohortflow.errors import ProviderError
from cohortflow.providers import ProviderAdapter, schedules_delivery
from cohortflow.warehouse import (
    append_event,
    folder_lock,
    ledger_dir,
    read_records,
    safe_component,
)

log = logging.getLogger(__name__)

DeliveryStatus = Literal["sending", "sent", "not_sent", "failed", "unconfirmed"]
#: Records whose batches no later send covers again by itself (a ``sending`` record does while
#: it is the last one: its answer is awaited, or its sender died).
COVERING: frozenset[str] = frozenset({"sent", "unconfirmed"})
INTERRUPTED = ("the sender stopped after the send request started and before its answer was "
               "recorded; the provider may have sent the campaign")


@dataclass(frozen=True)
class DeliveryStep:
    """One send of a campaign (or why none was made now)."""

    status: DeliveryStatus | Literal["waiting"]
    batches: int
    recipients: int
    scheduled_at: str | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly."""
        return {"status": self.status, "batches": self.batches, "recipients": self.recipients,
                "scheduled_at": self.scheduled_at, "detail": self.detail}


def _folder(warehouse: Path, campaign_id: str) -> Path:
    return ledger_dir(warehouse, "provider_deliveries") / safe_component(campaign_id)


def delivery_records(campaign: CampaignConfig, warehouse: Path) -> list[dict[str, Any]]:
    """Every delivery record of the campaign, oldest first (a send in progress or interrupted
    shows as ``sending``)."""
    return read_records(_folder(warehouse, campaign.campaign_id))


def _uncovered(
    campaign: CampaignConfig, warehouse: Path, records: list[dict[str, Any]], *, again: bool
) -> tuple[list[str], int]:
    """Keys and recipients of uploaded batches no send covers (``again``: unconfirmed sends
    do not count as covering)."""
    covering = {"sent"} if again else COVERING
    covered = {key for r in records if r["status"] in covering for key in r["batches"]}
    if records and records[-1]["status"] == "sending":  # in flight, or its sender died
        covered |= set(records[-1]["batches"])
    outbox = Outbox(warehouse, campaign.campaign_id)
    results = outbox.results()
    keys, recipients = [], 0
    for batch in outbox.batches():
        if batch.idempotency_key in covered:
            continue
        if Outbox.status_of(results.get(batch.idempotency_key, [])) == "submitted":
            keys.append(batch.idempotency_key)
            recipients += len(batch.rows)
    return keys, recipients


def start_delivery(
    campaign: CampaignConfig,
    warehouse: Path,
    adapter: ProviderAdapter[Any],
    now: dt.datetime | None = None,
    *,
    again: bool = False,
    actor: str = "dispatch",
) -> DeliveryStep | None:
    """Send the campaign once for the batches uploaded since the last send; None when the
    provider has no delivery step or nothing new was uploaded. ``again`` (an operator's
    ``campaign send``) also covers batches of unconfirmed sends."""
    if not adapter.schedules_delivery:
        return None
    now = now or dt.datetime.now(dt.UTC)
    folder = _folder(warehouse, campaign.campaign_id)
    with folder_lock(folder):
        records = read_records(folder)
        if records and records[-1]["status"] == "sending":  # the last sender died mid-request
            last = records[-1]
            append_event(folder, {"status": "unconfirmed", "batches": last["batches"],
                             "recipients": last["recipients"], "error": INTERRUPTED}, now)
            records = read_records(folder)
        keys, recipients = _uncovered(campaign, warehouse, records, again=again)
        if not keys:
            return None
        state = read_state(campaign, warehouse)
        live = effective_campaign(campaign, state)
        scheduled = campaign.schedule_at if campaign.schedule_at and campaign.schedule_at > now \
            else None
        gate = campaign_gate(live, scheduled or now, activated_at=state.activated_at or now)
        if not gate.may_send:
            return DeliveryStep("waiting", len(keys), recipients, detail=gate.reason)
        request = adapter.delivery_request(scheduled)
        if request is None:
            return None
        at = scheduled.astimezone(dt.UTC).isoformat() if scheduled else None
        base = {"batches": keys, "recipients": recipients, "scheduled_at": at, "actor": actor}
        append_event(folder, base | {"status": "sending"}, now)
        try:
            answer = adapter.call(request, repeatable=False)
        except ProviderError as exc:  # credentials refused: nothing was sent
            append_event(folder, base | {"status": "failed", "error": exc.message},
                    dt.datetime.now(dt.UTC))
            raise
        status: DeliveryStatus = (
            "sent" if answer.ok else "not_sent" if answer.outcome == "not_sent"
            else "failed" if answer.outcome == "rejected" else "unconfirmed")
        append_event(folder, base | {"status": status, "http_status": answer.status_code,
                                "error": answer.error}, dt.datetime.now(dt.UTC))
    level = logging.INFO if status == "sent" else logging.WARNING
    log.log(level, "campaign %s: delivery %s for %d recipients in %d batches%s",
            campaign.campaign_id, status, recipients, len(keys),
            f" ({answer.error})" if answer.error else "")
    return DeliveryStep(status, len(keys), recipients, at, answer.error or "")


def delivery_summary(campaign: CampaignConfig, warehouse: Path) -> dict[str, Any] | None:
    """The campaign's last send and what waits for one (for ``campaign status``)."""
    if not schedules_delivery(campaign):
        return None
    records = delivery_records(campaign, warehouse)
    keys, recipients = _uncovered(campaign, warehouse, records, again=False)
    sent = {key for r in records if r["status"] == "sent" for key in r["batches"]}
    unconfirmed = {key for r in records if r["status"] == "unconfirmed"
                   for key in r["batches"]} - sent
    last = records[-1] if records else None
    return {
        "last": {k: last.get(k) for k in ("status", "at", "recipients", "scheduled_at", "error")}
        if last else None,
        "sends": sum(r["status"] == "sent" for r in records),
        "waiting_batches": len(keys),
        "waiting_recipients": recipients,
        "unconfirmed_batches": len(unconfirmed),
    }
