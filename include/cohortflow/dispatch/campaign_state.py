"""Runtime campaign status (pause, resume, cancel, end) kept in an append-only ledger.

The YAML ``status`` is where a campaign starts; every later change is an event in
``ledgers/campaign_state/<campaign_id>/``, and the latest decision wins: each event records
the YAML status of its time, so editing the YAML's ``status`` afterwards (e.g. to ``paused``)
is a newer decision than the ledger's and takes effect. A YAML status of ``cancelled`` or
``ended`` is final and wins over the ledger too; so does a ledger status that is final.

Each event also records the campaign's settings fingerprint. Following Sarvam's
campaign-update rule, settings may change only while a campaign is ``paused`` or
``scheduled``: when the YAML's fingerprint differs from the recorded one while the campaign is
``active``, :func:`check_settings_unchanged` refuses and says how to pause it. ``resume``
records the new fingerprint. The first activation time is kept for ``delay``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cohortflow.config import CampaignConfig, CampaignStatus
from cohortflow.errors import CohortflowError
from cohortflow.warehouse import (
    append_record,
    folder_lock,
    ledger_dir,
    read_records,
    safe_component,
)

Action = Literal["activate", "pause", "resume", "cancel", "end"]
FINAL_STATUSES: frozenset[str] = frozenset({"cancelled", "ended"})

#: For each action: the statuses it may start from, and the status it leads to.
TRANSITIONS: dict[str, tuple[frozenset[str], CampaignStatus]] = {
    "activate": (frozenset({"active"}), "active"),
    "pause": (frozenset({"active", "scheduled"}), "paused"),
    "resume": (frozenset({"paused", "scheduled"}), "active"),
    "cancel": (frozenset({"active", "paused", "scheduled"}), "cancelled"),
    "end": (frozenset({"active", "paused", "scheduled"}), "ended"),
}


class CampaignStateError(CohortflowError):
    """A status change that the campaign's current status does not allow."""

    code = "campaign_state"


@dataclass(frozen=True)
class CampaignState:
    """A campaign's effective status and what was recorded about it."""

    campaign_id: str
    status: CampaignStatus
    activated_at: dt.datetime | None  # first time it became active (``delay`` counts from it)
    fingerprint: str | None  # settings fingerprint recorded by the latest event
    updated_at: dt.datetime | None
    events: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary (for ``campaign status --json``)."""
        return {
            "campaign_id": self.campaign_id,
            "status": self.status,
            "activated_at": self.activated_at.isoformat() if self.activated_at else None,
            "fingerprint": self.fingerprint,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "events": len(self.events),
        }


def effective_campaign(campaign: CampaignConfig, state: CampaignState) -> CampaignConfig:
    """``campaign`` with its runtime status (from the campaign-state ledger)."""
    return campaign.model_copy(update={"status": state.status})


def _state_dir(warehouse: Path, campaign_id: str) -> Path:
    return ledger_dir(warehouse, "campaign_state") / safe_component(campaign_id)


def read_state(campaign: CampaignConfig, warehouse: Path) -> CampaignState:
    """The effective state: the YAML status, overridden by the latest ledger event."""
    events = read_records(_state_dir(warehouse, campaign.campaign_id))
    status: CampaignStatus = campaign.status
    activated_at = updated_at = None
    fingerprint = None
    for event in events:
        status = event["status"]
        fingerprint = event.get("fingerprint") or fingerprint
        updated_at = dt.datetime.fromisoformat(event["at"])
        if event["status"] == "active" and activated_at is None:
            activated_at = updated_at
    yaml_then = events[-1].get("yaml_status") if events else None
    if yaml_then is not None and yaml_then != campaign.status and status not in FINAL_STATUSES:
        status = campaign.status  # the YAML was edited after the last event
    if campaign.status in FINAL_STATUSES:
        status = campaign.status
    return CampaignState(
        campaign.campaign_id, status, activated_at, fingerprint, updated_at, tuple(events)
    )


def _append_event(
    campaign: CampaignConfig, warehouse: Path, action: Action, now: dt.datetime, actor: str
) -> CampaignState:
    folder = _state_dir(warehouse, campaign.campaign_id)
    with folder_lock(folder):
        state = read_state(campaign, warehouse)
        allowed_from, target = TRANSITIONS[action]
        if state.status not in allowed_from:
            raise CampaignStateError(_refusal(campaign.campaign_id, action, state.status))
        record = {
            "campaign_id": campaign.campaign_id,
            "action": action,
            "from_status": state.status,
            "status": target,
            "at": now.astimezone(dt.UTC).isoformat(),
            "fingerprint": campaign.settings_fingerprint(),
            "yaml_status": campaign.status,
            "actor": actor,
        }
        name = f"{len(state.events) + 1:06d}-{action}.json"
        if not append_record(folder, name, record):  # pragma: no cover - guarded by the lock
            raise CampaignStateError(f"campaign {campaign.campaign_id}: concurrent status change")
    return read_state(campaign, warehouse)


def _refusal(campaign_id: str, action: str, status: str) -> str:
    if status in FINAL_STATUSES:
        return (
            f"campaign {campaign_id} is {status}, which is final; it cannot be {action}d. "
            "Create a new campaign (a new YAML with a new campaign_id) to contact these "
            "recipients again."
        )
    hints = {
        "pause": f"it is already {status}",
        "resume": f"it is {status}; only a paused or scheduled campaign can be resumed",
        "activate": f"it is {status}",
    }
    reason = hints.get(action, f"it is {status}")
    return f"campaign {campaign_id}: cannot {action}: {reason}"


def change_status(
    campaign: CampaignConfig,
    warehouse: Path,
    action: Action,
    *,
    now: dt.datetime | None = None,
    actor: str = "cli",
) -> CampaignState:
    """Apply ``action`` (pause, resume, cancel, end) and return the new state.

    Raises :class:`CampaignStateError` naming the campaign and its status when the action is
    not allowed (e.g. resuming a cancelled campaign).
    """
    if action not in TRANSITIONS or action == "activate":
        raise CampaignStateError(
            f"campaign {campaign.campaign_id}: unknown action {action!r}; "
            "use pause, resume, cancel or end"
        )
    return _append_event(campaign, warehouse, action, now or dt.datetime.now(dt.UTC), actor)


def ensure_activation(
    campaign: CampaignConfig, warehouse: Path, now: dt.datetime
) -> CampaignState:
    """Record the activation time and fingerprint of an active campaign seen the first time.

    A campaign whose YAML says ``active`` has no ledger event until its first dispatch; this
    records one so that ``delay`` counts from then and later edits are detected.
    """
    state = read_state(campaign, warehouse)
    if state.status == "active" and state.activated_at is None:
        return _append_event(campaign, warehouse, "activate", now, "dispatch")
    return state


def check_settings_unchanged(campaign: CampaignConfig, state: CampaignState) -> None:
    """Refuse to dispatch an active campaign whose settings changed since they were recorded."""
    if state.status != "active" or state.fingerprint is None:
        return
    if state.fingerprint != campaign.settings_fingerprint():
        cid = campaign.campaign_id
        raise CampaignStateError(
            f"campaign {cid} settings changed while active; pause it first: "
            f"cohortflow campaign pause {cid} (then resume it to apply the new settings)",
            code="settings_changed",
        )
