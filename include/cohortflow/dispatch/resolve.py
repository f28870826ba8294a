"""What operators do with batches dispatch could not finish by itself.

- An ``unconfirmed`` batch (the provider may have it) is resolved once someone has checked
  with the provider: ``delivered`` (the provider has it: it counts as sent) or ``resend``
  (it does not: the batch is released and its recipients go out again in a new batch, with a
  new key and a new name).
- ``failed`` batches (refused by the provider, or never sent in their rounds) are released by
  :func:`retry_failed` once the config is fixed, so that their recipients are planned again.

Each resolution is a record of the results ledger naming who made it; nothing is deleted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from cohortflow.config import CampaignConfig
from cohortflow.dispatch.outbox import BatchStatus, Outbox, OutboxBatch, ResultRecord
from cohortflow.errors import CohortflowError

Resolution = Literal["delivered", "resend"]
#: Statuses an operator may resolve: the provider may have the batch.
RESOLVABLE = ("unconfirmed", "interrupted")


class ResolveError(CohortflowError):
    """A batch cannot be resolved that way (unknown id, or not in a resolvable status)."""

    code = "batch_resolve"


@dataclass(frozen=True)
class BatchView:
    """One batch as operators see it."""

    batch_id: str  # the idempotency key: campaign:cohort:number:attempt
    cohort_id: str
    batch_number: int
    attempt: int
    recipients: int
    status: BatchStatus
    outcome: str | None  # what the last answer meant: accepted, not_sent, unknown, rejected
    detail: str | None  # the provider's message or what happened
    updated_at: str | None
    resolved_by: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly."""
        return asdict(self)


def batch_view(batch: OutboxBatch, results: list[ResultRecord]) -> BatchView:
    """``batch`` and what its results ledger says."""
    last = results[-1] if results else None
    answered = [r for r in results if r.outcome is not None]
    return BatchView(
        batch_id=batch.idempotency_key,
        cohort_id=batch.cohort_id,
        batch_number=batch.batch_number,
        attempt=batch.attempt,
        recipients=len(batch.rows),
        status=Outbox.status_of(results),
        outcome=answered[-1].outcome if answered else None,
        detail=last.error if last else None,
        updated_at=last.recorded_at if last else None,
        resolved_by=last.actor if last else None,
    )


def list_batches(
    campaign: CampaignConfig, warehouse: Path, status: str | None = None
) -> list[BatchView]:
    """The campaign's batches (only those in ``status`` when given), in planning order."""
    outbox = Outbox(warehouse, campaign.campaign_id)
    results = outbox.results()
    views = [batch_view(b, results.get(b.idempotency_key, [])) for b in outbox.batches()]
    return [v for v in views if status is None or v.status == status]


def resolve_batch(
    campaign: CampaignConfig,
    warehouse: Path,
    batch_id: str,
    resolution: Resolution,
    *,
    actor: str = "cli",
    now: dt.datetime | None = None,
) -> BatchView:
    """Record an operator's resolution of the unconfirmed batch ``batch_id``."""
    outbox = Outbox(warehouse, campaign.campaign_id)
    batch = next((b for b in outbox.batches() if b.idempotency_key == batch_id), None)
    if batch is None:
        raise ResolveError(
            f"campaign {campaign.campaign_id}: no batch {batch_id!r}; list them with "
            f"`cohortflow batch list --campaign {campaign.campaign_id}`"
        )
    with outbox.sending_lock(batch.ref) as held:
        if not held:
            raise ResolveError(f"batch {batch_id} is being sent right now; try again shortly")
        status = Outbox.status_of(outbox.results_for(batch.ref))
        if status not in RESOLVABLE:
            hint = (" (use `cohortflow campaign retry-failed` for failed batches)"
                    if status == "failed" else "")
            raise ResolveError(f"batch {batch_id} is {status}, not unconfirmed: only an "
                               f"unconfirmed batch can be resolved{hint}")
        outbox.write_result(
            batch, status="submitted" if resolution == "delivered" else "released", final=True,
            error=f"resolved by {actor}: {resolution}", actor=actor, now=now,
        )
        return batch_view(batch, outbox.results_for(batch.ref))


def retry_failed(
    campaign: CampaignConfig, warehouse: Path, *, actor: str = "cli",
    now: dt.datetime | None = None,
) -> list[BatchView]:
    """Release every failed batch of the campaign: the next dispatch plans its recipients
    again (under the campaign's current config). Returns the batches released."""
    outbox = Outbox(warehouse, campaign.campaign_id)
    released = []
    for batch in outbox.batches():
        with outbox.sending_lock(batch.ref) as held:
            if not held or Outbox.status_of(outbox.results_for(batch.ref)) != "failed":
                continue
            outbox.write_result(batch, status="released", final=True,
                                error=f"released by {actor}: retry-failed", actor=actor, now=now)
            released.append(batch_view(batch, outbox.results_for(batch.ref)))
    return released
