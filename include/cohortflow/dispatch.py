"""Dispatch: who is due now, cut into batches written to the outbox, then submitted once.

:func:`plan_dispatch` decides who may be contacted at ``now`` (campaign status and gate,
allowed hours in the campaign's or each recipient's timezone, what fits before the window
closes at ``attempts_per_second``), excludes everyone already in a batch of the same attempt
round, cuts the rest into batches of ``batch_size`` with deterministic numbers and keys, and
writes them to the outbox *before* anything is sent. :func:`submit_batch` sends one batch
(rate limited, through the provider adapter) and records the answer; it does nothing for a
batch that already has a final answer. :func:`run_dispatch` does both, as the CLI does.
The Airflow DAG calls the same two functions from separate tasks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import os
import signal
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol

import requests

from cohortflow.callers import caller_plan
from cohortflow.campaign_state import (
    CampaignState,
    change_status,
    check_settings_unchanged,
    ensure_activation,
    read_state,
)
from cohortflow.cohort_source import build_batch, published_cohorts, read_cohort
from cohortflow.config import CampaignConfig
from cohortflow.errors import CohortflowError, ProviderError
from cohortflow.outbox import MAX_SUBMIT_ROUNDS, BatchRef, Outbox, OutboxBatch, is_transient
from cohortflow.phones import phone_timezones
from cohortflow.providers.base import Batch, SubmitResult
from cohortflow.ratelimit import TokenBucket
from cohortflow.windows import (
    Plan,
    campaign_gate,
    is_open,
    next_open,
    open_intervals,
    plan_windows,
    resolve_zones,
    slice_slots,
)

log = logging.getLogger(__name__)

#: Test hook: ``outbox`` or ``send`` SIGKILLs the process right after that step.
CRASH_ENV = "COHORTFLOW_TEST_CRASH_AFTER"
#: A submit task waits at most this long for its paced send time, then sends anyway.
MAX_PACING_WAIT_SECONDS = 900.0
#: Provider error codes meaning nothing can be sent until someone fixes the setup.
SETUP_ERRORS = frozenset({"provider_auth", "provider_credentials", "provider_config"})

Member = tuple[str, int, int]  # (cohort_id, attempt, row_number)


class Submitter(Protocol):
    """What dispatch needs of a provider adapter (tests pass fakes)."""

    def submit(self, batch: Batch) -> SubmitResult:
        """Send ``batch``; retries transient faults inside."""
        ...


def crash_point(step: str) -> None:
    """SIGKILL this process when ``COHORTFLOW_TEST_CRASH_AFTER`` names ``step`` (tests only)."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


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
    cancelled: list[tuple[OutboxBatch, str]] = field(default_factory=list)
    retries_due: int = 0

    def refs(self) -> list[dict[str, Any]]:
        """The pending batches as small dicts (for XCom and ``--json``)."""
        return [batch.ref.as_dict() for batch in self.pending]

    @property
    def deferred_recipients(self) -> int:
        """Recipients waiting for a later window (or blocked)."""
        return sum(item.recipients for item in self.deferred)


SubmitStatus = Literal["submitted", "failed", "deferred", "skipped", "retry_later"]


@dataclass(frozen=True)
class SubmitOutcome:
    """What :func:`submit_batch` did with one batch."""

    ref: BatchRef
    status: SubmitStatus
    recipients: int
    accepted: int = 0
    detail: str = ""
    until: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly."""
        return {
            "idempotency_key": self.ref.idempotency_key,
            "status": self.status,
            "recipients": self.recipients,
            "accepted": self.accepted,
            "detail": self.detail,
            "until": self.until.isoformat() if self.until else None,
        }


@dataclass
class DispatchReport:
    """A dispatch run: the plan and what happened to each pending batch."""

    plan: DispatchPlan
    outcomes: list[SubmitOutcome] = field(default_factory=list)
    dry_run: bool = False

    def count(self, status: str) -> int:
        """Recipients in batches that ended with ``status``."""
        return sum(o.recipients for o in self.outcomes if o.status == status)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (the CLI's ``--json``)."""
        plan = self.plan
        return {
            "campaign_id": plan.campaign_id,
            "now": plan.now.isoformat(),
            "status": plan.status,
            "may_send": plan.may_send,
            "reason": plan.reason,
            "dry_run": self.dry_run,
            "new_batches": len(plan.new_batches),
            "would_send": sum(len(b.rows) for b in plan.pending) if self.dry_run else 0,
            "sent": self.count("submitted"),
            "failed": self.count("failed"),
            "batches": [o.as_dict() for o in self.outcomes],
            "deferred": [
                {
                    "zones": list(d.zones),
                    "recipients": d.recipients,
                    "until": d.until.isoformat() if d.until else None,
                    "reason": d.reason,
                }
                for d in plan.deferred
            ],
            "cancelled": [
                {"idempotency_key": b.idempotency_key, "recipients": len(b.rows), "reason": r}
                for b, r in plan.cancelled
            ],
        }


# --------------------------------------------------------------------------- planning


def effective_campaign(campaign: CampaignConfig, state: CampaignState) -> CampaignConfig:
    """``campaign`` with its runtime status (from the campaign-state ledger)."""
    return campaign.model_copy(update={"status": state.status})


def recipient_zones(campaign: CampaignConfig, phone: str) -> tuple[str, ...]:
    """Zones whose window applies to ``phone``: its own when ``recipient_local_time``, else ()."""
    if not campaign.recipient_local_time:
        return ()
    return resolve_zones(phone_timezones(phone), campaign.allowed_schedule)


def _candidates(
    campaign: CampaignConfig, warehouse: Path, now: dt.datetime, batched: set[Member]
) -> tuple[dict[tuple[str, ...], list[Member]], int]:
    """Unbatched first attempts and due retries, grouped by zones; and the retry count."""
    from cohortflow.outcomes import due_retries

    groups: dict[tuple[str, ...], list[Member]] = defaultdict(list)
    phones: dict[tuple[str, int], str] = {}
    for cohort_id in published_cohorts(warehouse, campaign.campaign_id):
        cohort = read_cohort(warehouse, campaign.campaign_id, cohort_id)
        for row, phone in zip(cohort.row_numbers, cohort.phones, strict=True):
            phones[(cohort_id, row)] = phone
            if (cohort_id, 0, row) not in batched:
                groups[recipient_zones(campaign, phone)].append((cohort_id, 0, row))
    retries = 0
    for retry in due_retries(campaign, warehouse, now):
        member = (retry.cohort_id, retry.attempt, retry.row_number)
        retry_phone = phones.get((retry.cohort_id, retry.row_number))
        if member in batched or retry_phone is None:
            continue
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
    planned earlier and not yet sent) uses the rate before anyone new. For ``messaging_csv``
    the provider spreads the send itself (slicing), so everyone whose window is open goes.
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
    provider_paces_itself = campaign.provider is not None and campaign.provider.kind == (
        "messaging_csv"
    )
    used = backlog
    for closes, zones in sorted(open_groups):
        members = groups[zones]
        room = len(members)
        if not provider_paces_itself:
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


def _slicing_cancellations(
    campaign: CampaignConfig, batches: list[OutboxBatch], now: dt.datetime
) -> list[tuple[OutboxBatch, str]]:
    """Batches the messaging platform would cancel under its consecutive slicing conditions."""
    provider = campaign.provider
    if provider is None or provider.kind != "messaging_csv":
        return []
    rate = float(campaign.attempts_per_second)
    horizon = now + dt.timedelta(hours=48)
    cancelled = []
    needed = 0
    for batch in batches:
        needed += len(batch.rows)
        slots = open_intervals(now, horizon, campaign.allowed_schedule, batch.zones)
        result = slice_slots(slots, needed / rate, now, provider.slicing_condition)
        if result.cancelled:
            cancelled.append((batch, f"{provider.slicing_condition}: {result.reason}"))
    return cancelled


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

    Raises :class:`~cohortflow.campaign_state.CampaignStateError` when the campaign's settings
    changed while it was active.
    """
    if write:
        state = ensure_activation(campaign, warehouse, now)
    else:
        state = read_state(campaign, warehouse)
    check_settings_unchanged(campaign, state)
    live = effective_campaign(campaign, state)
    activated_at = state.activated_at or (now if state.status == "active" else None)
    gate = campaign_gate(live, now, activated_at=activated_at)
    outbox = Outbox(warehouse, campaign.campaign_id)
    with outbox.lock() if write else contextlib.nullcontext():
        existing = outbox.batches()
        results = outbox.results()
        pending = [
            b for b in existing if Outbox.status_of(results.get(b.idempotency_key, [])) == "pending"
        ]
        plan = DispatchPlan(
            campaign.campaign_id, now, state.status, gate.may_send, gate.reason, pending=pending
        )
        batched = {(b.cohort_id, b.attempt, row) for b in existing for row in b.rows}
        groups, plan.retries_due = _candidates(live, warehouse, now, batched)
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
        plan.cancelled = _slicing_cancellations(live, plan.new_batches, now)
        if write:
            outbox.write_batches(plan.new_batches)
            for batch, reason in plan.cancelled:
                outbox.write_result(batch, status="cancelled", final=True, error=reason)
            crash_point("outbox")
    cancelled_keys = {batch.idempotency_key for batch, _ in plan.cancelled}
    plan.pending += [b for b in plan.new_batches if b.idempotency_key not in cancelled_keys]
    return plan


# --------------------------------------------------------------------------- submitting


def submit_batch(
    ref: BatchRef,
    campaign: CampaignConfig,
    warehouse: Path,
    adapter: Submitter | None,
    bucket: TokenBucket | None = None,
    *,
    now: dt.datetime | None = None,
    pace: bool = True,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> SubmitOutcome:
    """Send one outbox batch and record the provider's answer; idempotent.

    A batch with a final answer is skipped. One whose campaign may not send now (paused,
    ended, window closed in its zones) is deferred and nothing is recorded. 429/5xx/timeouts
    are retried inside the adapter; if they persist the batch stays pending and is sent again
    (same idempotency key) by a later run, up to ``MAX_SUBMIT_ROUNDS`` runs, then it is marked
    failed. Any other refusal marks it failed with the provider's message. Setup problems
    (credentials refused or missing) raise :class:`ProviderError` without marking the batch.
    """
    now = now or dt.datetime.now(dt.UTC)
    outbox = Outbox(warehouse, campaign.campaign_id)
    batch = outbox.batch(ref)
    previous = outbox.results_for(ref)
    status = Outbox.status_of(previous)
    if status != "pending":
        return SubmitOutcome(ref, "skipped", len(batch.rows), detail=f"already {status}")
    state = read_state(campaign, warehouse)
    check_settings_unchanged(campaign, state)
    live = effective_campaign(campaign, state)
    zones = batch.zones if live.recipient_local_time else None
    gate = campaign_gate(live, now, activated_at=state.activated_at or now, zones=zones)
    if not gate.may_send:
        return SubmitOutcome(ref, "deferred", len(batch.rows), detail=gate.reason,
                             until=gate.not_before)
    if pace and batch.send_after > clock():
        sleep(min(batch.send_after - clock(), MAX_PACING_WAIT_SECONDS))
    if bucket is not None:
        bucket.acquire(len(batch.rows))
    if adapter is None:
        from cohortflow.providers.registry import adapter_for

        adapter = adapter_for(campaign)
    return _send(outbox, batch, campaign, warehouse, adapter, last_round=len(previous) + 1)


def _send(
    outbox: Outbox,
    batch: OutboxBatch,
    campaign: CampaignConfig,
    warehouse: Path,
    adapter: Submitter,
    *,
    last_round: int,
) -> SubmitOutcome:
    ref = batch.ref
    final_round = last_round >= MAX_SUBMIT_ROUNDS
    try:
        payload = build_batch(
            warehouse, batch.campaign_id, batch.cohort_id, batch.batch_number, batch.attempt,
            batch.rows, caller_plan(campaign.connection_configs), name=batch.name,
        )
        result = adapter.submit(payload)
    except ProviderError as exc:
        if exc.code in SETUP_ERRORS:
            raise
        outbox.write_result(batch, status="failed", final=True, error=exc.message)
        _notify(campaign, warehouse, "batch_failed", batch, error=exc.message)
        return SubmitOutcome(ref, "failed", len(batch.rows), detail=exc.message)
    except LookupError as exc:
        outbox.write_result(batch, status="failed", final=True, error=str(exc))
        _notify(campaign, warehouse, "batch_failed", batch, error=str(exc))
        return SubmitOutcome(ref, "failed", len(batch.rows), detail=str(exc))
    except (requests.RequestException, OSError) as exc:
        error = f"{type(exc).__name__} while sending"
        outbox.write_result(batch, status="failed", final=final_round, error=error)
        return SubmitOutcome(ref, "failed" if final_round else "retry_later", len(batch.rows),
                             detail=error)
    crash_point("send")
    if result.ok:
        outbox.write_result(batch, status="submitted", final=True, result=result)
        log.info("batch %s: %d recipients accepted", ref.idempotency_key, result.accepted)
        _notify(campaign, warehouse, "batch_submitted", batch, accepted=result.accepted)
        return SubmitOutcome(ref, "submitted", len(batch.rows), accepted=result.accepted,
                             detail=result.provider_reference or "")
    transient = is_transient(result)
    final = final_round or not transient
    outbox.write_result(batch, status="failed", final=final, result=result)
    log.warning("batch %s: provider answered %s: %s", ref.idempotency_key,
                result.status_code, result.error)
    if final:
        _notify(campaign, warehouse, "batch_failed", batch, error=result.error)
    detail = f"HTTP {result.status_code}: {result.error}"
    return SubmitOutcome(ref, "failed" if final else "retry_later", len(batch.rows),
                         detail=detail)


def _notify(
    campaign: CampaignConfig, warehouse: Path, event: str, batch: OutboxBatch, **data: Any
) -> None:
    """Send a batch webhook; a webhook problem never changes the batch's outcome."""
    if campaign.webhook_config is None:
        return
    from cohortflow.webhooks import send_event

    payload = {
        "cohort_id": batch.cohort_id,
        "batch_number": batch.batch_number,
        "attempt": batch.attempt,
        "idempotency_key": batch.idempotency_key,
        "recipients": len(batch.rows),
        **data,
    }
    try:
        send_event(campaign, warehouse, event, f"{event}:{batch.idempotency_key}", payload)
    except CohortflowError as exc:  # pragma: no cover - send_event records and swallows
        log.warning("webhook %s for %s not delivered: %s", event, batch.idempotency_key, exc)


# --------------------------------------------------------------------------- a whole run


def end_if_due(campaign: CampaignConfig, warehouse: Path, now: dt.datetime) -> bool:
    """Mark the campaign ended once ``end_timestamp`` has passed; True when it ended now.

    Batches still pending are cancelled with a reason (never silently dropped) and the
    ``campaign_ended`` webhook is sent.
    """
    if campaign.end_timestamp is None or now < campaign.end_timestamp:
        return False
    state = read_state(campaign, warehouse)
    if state.status not in ("active", "paused", "scheduled"):
        return False
    change_status(campaign, warehouse, "end", now=now, actor="dispatch")
    outbox = Outbox(warehouse, campaign.campaign_id)
    results = outbox.results()
    unsent = 0
    for batch in outbox.batches():
        if Outbox.status_of(results.get(batch.idempotency_key, [])) == "pending":
            outbox.write_result(
                batch, status="cancelled", final=True,
                error=f"campaign ended at {campaign.end_timestamp.isoformat()} before it was sent",
            )
            unsent += len(batch.rows)
    if campaign.webhook_config is not None:
        from cohortflow.webhooks import send_event

        send_event(campaign, warehouse, "campaign_ended", f"campaign_ended:{campaign.campaign_id}",
                   {"ended_at": campaign.end_timestamp.isoformat(), "unsent_recipients": unsent})
    return True


def run_dispatch(
    campaign: CampaignConfig,
    warehouse: Path,
    now: dt.datetime | None = None,
    *,
    dry_run: bool = False,
    adapter: Submitter | None = None,
    bucket: TokenBucket | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    on_batch: Callable[[int, int], None] | None = None,
) -> DispatchReport:
    """Plan, then submit every pending batch in order under one token bucket.

    ``now`` fixes the clock used for windows and the campaign gate (pacing always uses the
    wall clock). ``dry_run`` plans without writing or sending anything. ``on_batch(done,
    total)`` is called after each batch (the CLI's progress bar).
    """
    now = now or dt.datetime.now(dt.UTC)
    if not dry_run:
        end_if_due(campaign, warehouse, now)
    plan = plan_dispatch(campaign, warehouse, now, write=not dry_run, clock=clock)
    report = DispatchReport(plan, dry_run=dry_run)
    if dry_run or not plan.pending:
        return report
    if adapter is None:
        from cohortflow.providers.registry import adapter_for

        adapter = adapter_for(campaign)
    bucket = bucket or TokenBucket(float(campaign.attempts_per_second), campaign.batch_size)
    for done, batch in enumerate(plan.pending, start=1):
        outcome = submit_batch(
            batch.ref, campaign, warehouse, adapter, bucket, now=now, clock=clock, sleep=sleep
        )
        report.outcomes.append(outcome)
        if on_batch is not None:
            on_batch(done, len(plan.pending))
    return report


def forecast(campaign: CampaignConfig, warehouse: Path, now: dt.datetime) -> Plan:
    """Upcoming windows and how many recipients go in each at the configured rate.

    Counts everyone not yet sent: recipients never batched, due retries, and batches still
    pending in the outbox. Warns (``Plan.warnings``) when not all fit before ``end_timestamp``.
    """
    state = read_state(campaign, warehouse)
    live = effective_campaign(campaign, state)
    outbox = Outbox(warehouse, campaign.campaign_id)
    existing = outbox.batches()
    results = outbox.results()
    batched = {(b.cohort_id, b.attempt, row) for b in existing for row in b.rows}
    groups, _ = _candidates(live, warehouse, now, batched)
    counts: dict[tuple[str, ...], int] = {zones: len(m) for zones, m in groups.items()}
    for batch in existing:
        if Outbox.status_of(results.get(batch.idempotency_key, [])) == "pending":
            counts[batch.zones] = counts.get(batch.zones, 0) + len(batch.rows)
    activated_at = state.activated_at or (now if state.status == "active" else None)
    return plan_windows(live, counts, now, activated_at=activated_at)
