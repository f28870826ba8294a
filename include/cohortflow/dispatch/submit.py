"""Submitting: one outbox batch sent through its provider adapter, what came of it recorded.

:func:`submit_batch` writes ``sending`` to the results ledger just before the request and the
answer's outcome after it, so a sender that dies in between leaves a batch whose outcome is
unknown, never one that looks unsent. What each outcome leads to:

- ``accepted``: the batch is submitted.
- ``not_sent``: sent again by a later run (same key), up to ``MAX_SUBMIT_ROUNDS`` answers,
  then failed (nobody was contacted; ``cohortflow campaign retry-failed`` plans it again).
- ``rejected``: failed, with the provider's message (fix the config, then retry-failed).
- ``unknown``: sent again with the same key only if the provider de-duplicates; otherwise the
  batch is unconfirmed: never sent again by itself, shown to operators (a WARNING, the
  ``batch_unconfirmed`` webhook, the catalog, ``cohortflow batch list``) until one resolves it.

Setup problems (credentials refused or missing) raise :class:`ProviderError` without marking
the batch, so everyone goes out once the setup is fixed.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from cohortflow.config import CampaignConfig
from cohortflow.dispatch.callers import caller_plan
from cohortflow.dispatch.campaign_state import (
    check_settings_unchanged,
    effective_campaign,
    read_state,
)
from cohortflow.dispatch.cohorts import build_batch
from cohortflow.dispatch.outbox import (
    MAX_SUBMIT_ROUNDS,
    BatchRef,
    BatchStatus,
    Outbox,
    OutboxBatch,
)
from cohortflow.dispatch.pacing import TokenBucket
from cohortflow.dispatch.provider_setup import settings_state, with_provider_campaign
from cohortflow.dispatch.webhooks import send_event
from cohortflow.dispatch.windows import campaign_gate
from cohortflow.errors import CohortflowError, ProviderError
from cohortflow.providers import (
    Batch,
    ProviderAdapter,
    SubmitResult,
    adapter_for,
    schedules_delivery,
)

log = logging.getLogger(__name__)

#: A submit task waits at most this long for its paced send time, then sends anyway.
MAX_PACING_WAIT_SECONDS = 900.0
#: Provider error codes meaning nothing can be sent until someone fixes the setup.
SETUP_ERRORS = frozenset({"provider_auth", "provider_credentials", "provider_config"})
#: What an interrupted send is recorded as.
INTERRUPTED = ("the sender stopped after the request started and before its answer was "
               "recorded; the provider may have the batch")


class Submitter(Protocol):
    """What dispatch needs of a provider adapter (tests pass fakes)."""

    def submit(self, batch: Batch) -> SubmitResult:
        """Send ``batch`` and classify the answer."""
        ...


SubmitStatus = Literal[
    "submitted", "failed", "unconfirmed", "deferred", "skipped", "retry_later"
]


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
    """Send one outbox batch and record what came of it; safe to call again at any time.

    A batch with a final status is skipped, and so is one another process is sending. One
    whose campaign may not send now (paused, ended, window closed in its zones, the provider
    holding stale campaign settings) is deferred and nothing is recorded. See the module
    docstring for what each outcome leads to. Test fakes (not a ``ProviderAdapter``) skip the
    provider-settings check.
    """
    now = now or dt.datetime.now(dt.UTC)
    outbox = Outbox(warehouse, campaign.campaign_id)
    batch = outbox.batch(ref)
    with outbox.sending_lock(ref) as held:
        if not held:
            return SubmitOutcome(ref, "skipped", len(batch.rows),
                                 detail="another process is sending it")
        adapter = adapter or adapter_for(with_provider_campaign(campaign, warehouse))
        deduplicates = bool(getattr(adapter, "deduplicates", False))
        previous = outbox.results_for(ref)
        status = Outbox.status_of(previous)
        if status == "interrupted":
            status = _after_interruption(outbox, batch, campaign, warehouse, deduplicates)
            if status == "unconfirmed":
                return SubmitOutcome(ref, "unconfirmed", len(batch.rows), detail=INTERRUPTED)
            previous = outbox.results_for(ref)
        if status != "pending":
            return SubmitOutcome(ref, "skipped", len(batch.rows), detail=f"already {status}")
        state = read_state(campaign, warehouse)
        check_settings_unchanged(campaign, state)
        live = effective_campaign(campaign, state)
        zones = batch.zones if live.recipient_local_time else None
        gate = campaign_gate(live, now, activated_at=state.activated_at or now, zones=zones,
                             hold_schedule_at=not schedules_delivery(campaign))
        if not gate.may_send:
            return SubmitOutcome(ref, "deferred", len(batch.rows), detail=gate.reason,
                                 until=gate.not_before)
        if isinstance(adapter, ProviderAdapter):
            settings = settings_state(campaign, warehouse)
            if not settings.in_sync:
                return SubmitOutcome(ref, "deferred", len(batch.rows), detail=settings.detail)
        if pace and batch.send_after > clock():
            sleep(min(batch.send_after - clock(), MAX_PACING_WAIT_SECONDS))
        if bucket is not None:
            bucket.acquire(len(batch.rows))
        rounds = Outbox.rounds_sent(previous) + 1
        return _send(outbox, batch, campaign, warehouse, adapter,
                     final_round=rounds >= MAX_SUBMIT_ROUNDS, deduplicates=deduplicates)


def _after_interruption(
    outbox: Outbox,
    batch: OutboxBatch,
    campaign: CampaignConfig,
    warehouse: Path,
    deduplicates: bool,
) -> BatchStatus:
    """Record the unknown outcome of a send that was interrupted; the batch's new status."""
    final = not deduplicates or Outbox.rounds_sent(outbox.results_for(batch.ref)) + 1 >= (
        MAX_SUBMIT_ROUNDS)
    status: Literal["unconfirmed", "pending"] = "unconfirmed" if final else "pending"
    outbox.write_result(batch, status=status, final=final, outcome="unknown", error=INTERRUPTED)
    if final:
        _unconfirmed(campaign, warehouse, batch, INTERRUPTED)
    return status


def _send(
    outbox: Outbox,
    batch: OutboxBatch,
    campaign: CampaignConfig,
    warehouse: Path,
    adapter: Submitter,
    *,
    final_round: bool,
    deduplicates: bool,
) -> SubmitOutcome:
    ref = batch.ref
    try:
        payload = build_batch(
            warehouse, batch.campaign_id, batch.cohort_id, batch.batch_number, batch.attempt,
            batch.rows, caller_plan(campaign.connection_configs), name=batch.name,
        )
    except LookupError as exc:  # the cohort was replaced under the outbox: nothing was sent
        return _failed(outbox, batch, campaign, warehouse, str(exc), outcome="rejected")
    outbox.write_result(batch, status="sending", final=False)
    try:
        result = adapter.submit(payload)
    except ProviderError as exc:  # raised before any request reached the provider
        if exc.code in SETUP_ERRORS:  # not a round of its own: sent once the setup is fixed
            outbox.write_result(batch, status="pending", final=False, error=exc.message)
            raise
        return _failed(outbox, batch, campaign, warehouse, exc.message, outcome="not_sent")
    if result.outcome == "accepted":
        outbox.write_result(batch, status="submitted", final=True, result=result)
        log.info("batch %s: %d recipients accepted%s", ref.idempotency_key, result.accepted,
                 f", {len(result.rejected_rows)} rejected by the provider"
                 if result.rejected_rows else "")
        _notify(campaign, warehouse, "batch_submitted", batch, accepted=result.accepted,
                provider_rejected=len(result.rejected_rows))
        return SubmitOutcome(ref, "submitted", len(batch.rows), accepted=result.accepted,
                             detail=_provider_detail(result))
    detail = result.error or f"HTTP {result.status_code}"
    if result.outcome == "rejected":
        return _failed(outbox, batch, campaign, warehouse, detail, result=result)
    if result.outcome == "unknown" and (not deduplicates or final_round):
        outbox.write_result(batch, status="unconfirmed", final=True, result=result)
        _unconfirmed(campaign, warehouse, batch, detail)
        return SubmitOutcome(ref, "unconfirmed", len(batch.rows), detail=detail)
    if final_round:  # not sent in any of its rounds: nobody was contacted
        return _failed(outbox, batch, campaign, warehouse, detail, result=result)
    outbox.write_result(batch, status="pending", final=False, result=result)
    log.info("batch %s: %s (%s); sent again by the next run", ref.idempotency_key,
             result.outcome.replace("_", " "), detail)
    return SubmitOutcome(ref, "retry_later", len(batch.rows), detail=detail)


def _provider_detail(result: SubmitResult) -> str:
    """The provider's reference and what it reported, for the dispatch summary."""
    parts = [result.provider_reference or ""]
    if result.rejected_rows:
        parts.append(f"{len(result.rejected_rows)} rejected by the provider")
    if result.provider_status:
        parts.append(result.provider_status)
    return "; ".join(p for p in parts if p)


def _failed(
    outbox: Outbox,
    batch: OutboxBatch,
    campaign: CampaignConfig,
    warehouse: Path,
    error: str,
    *,
    result: SubmitResult | None = None,
    outcome: Literal["not_sent", "rejected"] = "rejected",
) -> SubmitOutcome:
    """Record ``batch`` as failed (nobody in it was contacted) and say so."""
    outbox.write_result(batch, status="failed", final=True, result=result,
                        outcome=None if result else outcome, error=error)
    log.warning("batch %s failed: %s", batch.idempotency_key, error)
    _notify(campaign, warehouse, "batch_failed", batch, error=error)
    return SubmitOutcome(batch.ref, "failed", len(batch.rows), detail=error)


def _unconfirmed(campaign: CampaignConfig, warehouse: Path, batch: OutboxBatch,
                 error: str) -> None:
    log.warning(
        "batch %s (%d recipients) is unconfirmed: %s. It is not sent again by itself: check "
        "with the provider, then `cohortflow batch resolve %s --delivered` or `--resend`",
        batch.idempotency_key, len(batch.rows), error, batch.idempotency_key,
    )
    _notify(campaign, warehouse, "batch_unconfirmed", batch, error=error)


def _notify(
    campaign: CampaignConfig, warehouse: Path, event: str, batch: OutboxBatch, **data: Any
) -> None:
    """Send a batch webhook; a webhook problem never changes the batch's outcome."""
    if campaign.webhook_config is None:
        return
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
