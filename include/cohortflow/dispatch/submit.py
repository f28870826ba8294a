"""Submitting: one outbox batch sent through its provider adapter, its answer recorded.

:func:`submit_batch` is idempotent: a batch that already has a final answer is skipped, one
whose campaign may not send now is deferred, and every answer is appended to the results
ledger before the function returns.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import requests

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
    Outbox,
    OutboxBatch,
    is_transient,
)
from cohortflow.dispatch.pacing import TokenBucket
from cohortflow.dispatch.webhooks import send_event
from cohortflow.dispatch.windows import campaign_gate
from cohortflow.errors import CohortflowError, ProviderError
from cohortflow.providers import Batch, SubmitResult, adapter_for

log = logging.getLogger(__name__)

#: A submit task waits at most this long for its paced send time, then sends anyway.
MAX_PACING_WAIT_SECONDS = 900.0
#: Provider error codes meaning nothing can be sent until someone fixes the setup.
SETUP_ERRORS = frozenset({"provider_auth", "provider_credentials", "provider_config"})


class Submitter(Protocol):
    """What dispatch needs of a provider adapter (tests pass fakes)."""

    def submit(self, batch: Batch) -> SubmitResult:
        """Send ``batch``; retries transient faults inside."""
        ...



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


