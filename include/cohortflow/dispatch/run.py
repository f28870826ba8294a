"""A whole dispatch run, as the CLI does it: end the campaign if due, plan, then submit every
pending batch in order under one token bucket. The DAG runs the same steps as separate tasks.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cohortflow.config import CampaignConfig
from cohortflow.dispatch.campaign_state import change_status, read_state
from cohortflow.dispatch.checks import check_campaign
from cohortflow.dispatch.delivery import DeliveryStep, start_delivery
from cohortflow.dispatch.outbox import Outbox
from cohortflow.dispatch.pacing import TokenBucket
from cohortflow.dispatch.plan import DispatchPlan, blocked_plan, plan_dispatch
from cohortflow.dispatch.provider_setup import prepare_provider, with_provider_campaign
from cohortflow.dispatch.submit import INTERRUPTED, SubmitOutcome, Submitter, submit_batch
from cohortflow.dispatch.webhooks import send_event
from cohortflow.providers import ProviderAdapter, adapter_for, schedules_delivery


@dataclass
class DispatchReport:
    """A dispatch run: the plan and what happened to each pending batch."""

    plan: DispatchPlan
    outcomes: list[SubmitOutcome] = field(default_factory=list)
    dry_run: bool = False
    delivery: DeliveryStep | None = None  # the provider's send step, where it has one

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
            "unconfirmed": self.count("unconfirmed"),
            "batches": [o.as_dict() for o in self.outcomes],
            "delivery": self.delivery.as_dict() if self.delivery else None,
            "deferred": [
                {
                    "zones": list(d.zones),
                    "recipients": d.recipients,
                    "until": d.until.isoformat() if d.until else None,
                    "reason": d.reason,
                }
                for d in plan.deferred
            ],
        }


def end_if_due(campaign: CampaignConfig, warehouse: Path, now: dt.datetime) -> bool:
    """Mark the campaign ended once ``end_timestamp`` has passed; True when it ended now.

    Batches still pending are cancelled with a reason (never silently dropped); one whose
    send was interrupted may have reached the provider, so it is unconfirmed instead. The
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
        status = Outbox.status_of(results.get(batch.idempotency_key, []))
        if status == "pending":
            outbox.write_result(
                batch, status="cancelled", final=True,
                error=f"campaign ended at {campaign.end_timestamp.isoformat()} before it was sent",
            )
            unsent += len(batch.rows)
        elif status == "interrupted":
            outbox.write_result(batch, status="unconfirmed", final=True, outcome="unknown",
                                error=INTERRUPTED)
    if campaign.webhook_config is not None:
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
    """Check the campaign, prepare the provider (settings pushed, its campaign created), plan,
    submit every pending batch in order under one token bucket, then start delivery where the
    provider has such a step (CometChat's send, once per run).

    ``now`` fixes the clock used for windows and the campaign gate (pacing always uses the
    wall clock). ``dry_run`` plans without writing or sending anything. ``on_batch(done,
    total)`` is called after each batch (the CLI's progress bar). A campaign whose provider
    settings would be refused raises :class:`~cohortflow.errors.ConfigError` before anything
    is planned; one whose provider holds stale settings plans nothing and says why. Neither
    is checked when ``adapter`` is a test fake (not a ``ProviderAdapter``).
    """
    now = now or dt.datetime.now(dt.UTC)
    real = adapter is None or isinstance(adapter, ProviderAdapter)
    if adapter is None:
        check_campaign(campaign, warehouse)
    if not dry_run:
        end_if_due(campaign, warehouse, now)
    if real:
        provider_adapter = adapter if isinstance(adapter, ProviderAdapter) else None
        blocked = prepare_provider(campaign, warehouse, provider_adapter, dry_run=dry_run)
        if blocked is not None:
            return DispatchReport(blocked_plan(campaign, warehouse, now, blocked),
                                  dry_run=dry_run)
    plan = plan_dispatch(campaign, warehouse, now, write=not dry_run, clock=clock)
    report = DispatchReport(plan, dry_run=dry_run)
    if dry_run:
        return report
    live = with_provider_campaign(campaign, warehouse)
    if isinstance(adapter, ProviderAdapter):
        adapter = adapter.bound_to(live)
    elif adapter is None and (plan.pending or schedules_delivery(campaign)):
        adapter = adapter_for(live)
    if adapter is not None and plan.pending:
        bucket = bucket or TokenBucket(float(campaign.attempts_per_second), campaign.batch_size)
        for done, batch in enumerate(plan.pending, start=1):
            outcome = submit_batch(
                batch.ref, campaign, warehouse, adapter, bucket, now=now, clock=clock, sleep=sleep
            )
            report.outcomes.append(outcome)
            if on_batch is not None:
                on_batch(done, len(plan.pending))
    if isinstance(adapter, ProviderAdapter):
        report.delivery = start_delivery(campaign, warehouse, adapter, now)
    return report
