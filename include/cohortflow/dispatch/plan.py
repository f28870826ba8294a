"""Planning: who is due now, cut into batches that are written to the outbox before sending.

:func:`plan_dispatch` decides who may be contacted at ``now`` (campaign status and gate,
allowed hours in the campaign's or each recipient's timezone, what fits before the window
closes at ``attempts_per_second``), excludes everyone already in a batch of the same attempt
round, cuts the rest into batches of ``batch_size`` with deterministic numbers and keys, and
writes them to the outbox *before* anything is sent (docs/decisions/001-outbox-before-send.md).
:func:`forecast` shows the windows ahead without planning anything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from cohortflow.config import CampaignConfig
from cohortflow.dispatch.campaign_state import (
    check_settings_unchanged,
    effective_campaign,
    ensure_activation,
    read_state,
)
from cohortflow.dispatch.capacity import Plan, plan_windows
from cohortflow.dispatch.cohorts import published_cohorts, recipient_phones
from cohortflow.dispatch.outbox import BatchRef, Outbox, OutboxBatch, ResultRecord
from cohortflow.dispatch.retries import due_retries
from cohortflow.dispatch.windows import (
    campaign_gate,
    is_open,
    next_open,
    open_intervals,
    recipient_zones,
)
from cohortflow.errors import CohortflowError
from cohortflow.providers import campaign_recipient_limit, schedules_delivery

Member = tuple[str, int, int]  # (cohort_id, attempt, row_number)


class CampaignLimitError(CohortflowError):
    """More recipients than one campaign of the provider takes."""

    code = "provider_limit"


@dataclass(frozen=True)
class Deferred:
    """Recipients not sent now, and when they may be (None: no time alone will do)."""

    zones: tuple[str, ...]
    recipients: int
    until: dt.datetime | None
    reason: str


@dataclass
class DispatchPlan:
    """What :func:`plan_dispatch` decided at ``now``."""

    campaign_id: str
    now: dt.datetime
    status: str
    may_send: bool
    reason: str
    new_batches: list[OutboxBatch] = field(default_factory=list)
    pending: list[OutboxBatch] = field(default_factory=list)  # to send: earlier unsent + new
    deferred: list[Deferred] = field(default_factory=list)
    retries_due: int = 0

    def refs(self) -> list[dict[str, Any]]:
        """The pending batches as small dicts (for XCom and ``--json``)."""
        return [batch.ref.as_dict() for batch in self.pending]

    @property
    def deferred_recipients(self) -> int:
        """Recipients waiting for a later window (or blocked)."""
        return sum(item.recipients for item in self.deferred)



def _candidates(
    campaign: CampaignConfig, warehouse: Path, now: dt.datetime, batched: set[Member]
) -> tuple[dict[tuple[str, ...], list[Member]], int]:
    """Unbatched first attempts and due retries, grouped by zones; and the retry count."""
    groups: dict[tuple[str, ...], list[Member]] = defaultdict(list)
    phones: dict[tuple[str, int], str | None] = {}
    for cohort_id in published_cohorts(warehouse, campaign.campaign_id):
        cohort = recipient_phones(warehouse, campaign.campaign_id, cohort_id)
        for row, phone in zip(cohort.row_numbers, cohort.phones, strict=True):
            phones[(cohort_id, row)] = phone
            if (cohort_id, 0, row) not in batched:
                groups[recipient_zones(campaign, phone)].append((cohort_id, 0, row))
    retries = 0
    for retry in due_retries(campaign, warehouse, now):
        member = (retry.cohort_id, retry.attempt, retry.row_number)
        if member in batched or (retry.cohort_id, retry.row_number) not in phones:
            continue
        retry_phone = phones[(retry.cohort_id, retry.row_number)]
        groups[recipient_zones(campaign, retry_phone)].append(member)
        retries += 1
    for members in groups.values():
        members.sort(key=lambda m: (m[1] == 0, m[0], m[1], m[2]))  # retries first
    return groups, retries


def _capacity(rate: Decimal, seconds: float) -> int:
    return math.floor(float(rate) * max(seconds, 0.0))


def _select_due(
    campaign: CampaignConfig,
    groups: dict[tuple[str, ...], list[Member]],
    now: dt.datetime,
    backlog: int,
) -> tuple[dict[tuple[str, ...], list[Member]], list[Deferred]]:
    """Who goes now: open windows only, and no more than fits before each closes at the rate.

    Groups whose window closes soonest are served first; ``backlog`` (recipients of batches
    planned earlier and not yet sent) uses the rate before anyone new.
    """
    schedule, end = campaign.allowed_schedule, campaign.end_timestamp
    due: dict[tuple[str, ...], list[Member]] = {}
    deferred: list[Deferred] = []
    open_groups: list[tuple[dt.datetime, tuple[str, ...]]] = []
    for zones, members in sorted(groups.items()):
        if is_open(now, schedule, zones):
            closes = open_intervals(now, now + dt.timedelta(days=2), schedule, zones)[0][1]
            open_groups.append((min(closes, end) if end else closes, zones))
        else:
            until = next_open(now, schedule, zones, until=end)
            reason = "outside allowed hours" if until else "no allowed window before the end"
            deferred.append(Deferred(zones, len(members), until, reason))
    used = backlog
    for closes, zones in sorted(open_groups):
        members = groups[zones]
        room = max(0, _capacity(campaign.attempts_per_second, (closes - now).total_seconds()))
        room = max(0, room - used)
        due[zones] = members[:room]
        used += len(due[zones])
        if len(members) > room:
            until = next_open(closes, schedule, zones, until=end)
            deferred.append(
                Deferred(
                    zones,
                    len(members) - room,
                    until,
                    f"the window closes before they can be sent at "
                    f"{campaign.attempts_per_second}/s",
                )
            )
    return due, deferred


def _cut_batches(
    campaign: CampaignConfig,
    outbox: Outbox,
    due: dict[tuple[str, ...], list[Member]],
    now: dt.datetime,
    anchor: float,
) -> list[OutboxBatch]:
    """Batches of ``batch_size`` per cohort, round and zones, numbered after existing ones."""
    next_number: dict[tuple[str, int], int] = {}
    rate = float(campaign.attempts_per_second)
    batches: list[OutboxBatch] = []
    sent_before = 0
    planned_at = dt.datetime.now(dt.UTC).isoformat()
    for zones, members in due.items():
        by_round: dict[tuple[str, int], list[int]] = defaultdict(list)
        for cohort_id, attempt, row in members:
            by_round[(cohort_id, attempt)].append(row)
        for (cohort_id, attempt), rows in by_round.items():
            for start in range(0, len(rows), campaign.batch_size):
                chunk = rows[start : start + campaign.batch_size]
                if (cohort_id, attempt) not in next_number:
                    next_number[(cohort_id, attempt)] = outbox.next_batch_number(
                        cohort_id, attempt
                    )
                number = next_number[(cohort_id, attempt)]
                next_number[(cohort_id, attempt)] = number + 1
                ref = BatchRef(campaign.campaign_id, cohort_id, number, attempt)
                batches.append(
                    OutboxBatch(
                        campaign_id=campaign.campaign_id,
                        cohort_id=cohort_id,
                        batch_number=number,
                        attempt=attempt,
                        idempotency_key=ref.idempotency_key,
                        rows=tuple(chunk),
                        zones=zones,
                        due_at=now.isoformat(),
                        planned_at=planned_at,
                        send_after=anchor + sent_before / rate,
                        provider_kind=campaign.provider.kind if campaign.provider else "",
                    )
                )
                sent_before += len(chunk)
    return batches


def _check_recipient_limit(
    campaign: CampaignConfig,
    existing: list[OutboxBatch],
    results: dict[str, list[ResultRecord]],
    groups: dict[tuple[str, ...], list[Member]],
) -> None:
    """Refuse to plan more recipients than one campaign of the provider takes (CometChat:
    100,000), counting everyone batched (and not released, cancelled or failed) and waiting."""
    limit = campaign_recipient_limit(campaign)
    if limit is None:
        return
    dropped = ("released", "cancelled", "failed")
    batched = sum(len(b.rows) for b in existing if b.attempt == 0 and Outbox.status_of(
        results.get(b.idempotency_key, [])) not in dropped)
    waiting = sum(1 for members in groups.values() for m in members if m[1] == 0)
    if batched + waiting > limit:
        kind = campaign.provider.kind if campaign.provider else "provider"
        raise CampaignLimitError(
            f"{campaign.source}: campaign {campaign.campaign_id} has {batched + waiting:,} "
            f"recipients ({batched:,} already batched, {waiting:,} waiting), more than the "
            f"{limit:,} one {kind} campaign takes; nothing was planned. Split the cohorts "
            "across campaigns (another YAML with its own provider campaign)")


def blocked_plan(
    campaign: CampaignConfig, warehouse: Path, now: dt.datetime, reason: str
) -> DispatchPlan:
    """A plan that sends nothing because of ``reason`` (e.g. stale provider settings)."""
    state = read_state(campaign, warehouse)
    return DispatchPlan(campaign.campaign_id, now, state.status, False, reason)


def plan_dispatch(
    campaign: CampaignConfig,
    warehouse: Path,
    now: dt.datetime,
    *,
    write: bool = True,
    clock: Callable[[], float] = time.time,
) -> DispatchPlan:
    """Decide who is due at ``now`` and write their batches to the outbox (unless ``write`` is
    False, as for ``--dry-run``). Safe to run again: nobody is batched twice in one round.

    Raises :class:`~cohortflow.dispatch.campaign_state.CampaignStateError` when the
    campaign's settings changed while it was active.
    """
    if write:
        state = ensure_activation(campaign, warehouse, now)
    else:
        state = read_state(campaign, warehouse)
    check_settings_unchanged(campaign, state)
    live = effective_campaign(campaign, state)
    activated_at = state.activated_at or (now if state.status == "active" else None)
    hold = not schedules_delivery(campaign)
    gate = campaign_gate(live, now, activated_at=activated_at, hold_schedule_at=hold)
    outbox = Outbox(warehouse, campaign.campaign_id)
    with outbox.lock() if write else contextlib.nullcontext():
        existing, results = outbox.batches(), outbox.results()
        pending = [b for b in existing if _to_send(results.get(b.idempotency_key, []))]
        plan = DispatchPlan(
            campaign.campaign_id, now, state.status, gate.may_send, gate.reason, pending=pending
        )
        batched = _batched(existing, results)
        groups, plan.retries_due = _candidates(live, warehouse, now, batched)
        _check_recipient_limit(campaign, existing, results, groups)
        if not gate.may_send:
            waiting = sum(len(members) for members in groups.values())
            if waiting:
                plan.deferred.append(Deferred((), waiting, gate.not_before, gate.reason))
            return plan
        backlog = sum(len(b.rows) for b in pending)
        due, plan.deferred = _select_due(live, groups, now, backlog)
        rate = float(campaign.attempts_per_second)
        anchor = max([clock()] + [b.send_after + len(b.rows) / rate for b in pending])
        plan.new_batches = _cut_batches(live, outbox, due, now, anchor)
        if write:
            outbox.write_batches(plan.new_batches)
    plan.pending += plan.new_batches
    return plan


def _to_send(results: list[ResultRecord]) -> bool:
    """Whether a batch is for submit to handle: not sent yet, or interrupted mid-send (submit
    then records its unknown outcome)."""
    return Outbox.status_of(results) in ("pending", "interrupted")


def _batched(
    batches: list[OutboxBatch], results: dict[str, list[ResultRecord]]
) -> set[Member]:
    """Every recipient of a batch that is not released: nobody is batched twice in a round,
    and a released batch's recipients are planned again (a new batch, key and name)."""
    return {(b.cohort_id, b.attempt, row) for b in batches
            if Outbox.status_of(results.get(b.idempotency_key, [])) != "released"
            for row in b.rows}


def forecast(campaign: CampaignConfig, warehouse: Path, now: dt.datetime) -> Plan:
    """Upcoming windows and how many recipients go in each at the configured rate.

    Counts everyone not yet sent: recipients never batched, due retries, and batches still
    pending in the outbox. Warns (``Plan.warnings``) when not all fit before ``end_timestamp``.
    """
    state = read_state(campaign, warehouse)
    live = effective_campaign(campaign, state)
    outbox = Outbox(warehouse, campaign.campaign_id)
    existing, results = outbox.batches(), outbox.results()
    groups, _ = _candidates(live, warehouse, now, _batched(existing, results))
    counts: dict[tuple[str, ...], int] = {zones: len(m) for zones, m in groups.items()}
    for batch in existing:
        if Outbox.status_of(results.get(batch.idempotency_key, [])) == "pending":
            counts[batch.zones] = counts.get(batch.zones, 0) + len(batch.rows)
    activated_at = state.activated_at or (now if state.status == "active" else None)
    return plan_windows(live, counts, now, activated_at=activated_at,
                        hold_schedule_at=not schedules_delivery(campaign))
