"""What the sandbox's provider accounts hold besides recorded recipients: Sarvam campaigns
and their settings, Sarvam cohorts (``processing``, completed a moment later), Nexus batches,
CometChat campaigns and sends. In memory, shared by the server threads."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cohortflow.sandbox.recorder import Recorder

#: Sarvam campaign statuses (``sarvam-campaign-update.txt``).
SARVAM_STATUSES = ("ended", "active", "paused", "scheduled", "cancelled")


@dataclass
class SarvamCampaign:
    """A Sarvam campaign: its status (a new one is ``scheduled``) and last accepted update."""

    campaign_id: str
    status: str = "scheduled"
    settings: dict[str, Any] = field(default_factory=dict)
    updates: int = 0
    created_at: str = field(default_factory=lambda: now_iso())
    updated_at: str = field(default_factory=lambda: now_iso())


#: How long a Sarvam cohort stays ``processing`` after its upload.
SARVAM_PROCESSING_SECONDS = 1.0


@dataclass
class SarvamCohort:
    """An uploaded Sarvam cohort: ``processing``, then ``completed`` with its counts."""

    cohort_id: str
    name: str
    total_records: int
    valid_records: int
    rejected_records: int
    uploaded: float = field(default_factory=lambda: time.monotonic())

    def as_dict(self) -> dict[str, Any]:
        """As the upload page shows a cohort (status and result)."""
        done = time.monotonic() - self.uploaded >= SARVAM_PROCESSING_SECONDS
        result = {"total_records": self.total_records,
                  "valid_records": self.valid_records if done else 0,
                  "rejected_records": self.rejected_records if done else 0}
        return {"cohort_id": self.cohort_id, "name": self.name,
                "status": "completed" if done else "processing", "result": result}


class ProviderWorld:
    """Thread-safe state of the provider accounts the sandbox plays."""

    def __init__(self, recorder: Recorder) -> None:
        """``recorder`` holds the recipients; the rest lives here."""
        self.recorder = recorder
        self._lock = threading.Lock()
        self._sarvam: dict[str, SarvamCampaign] = {}
        self._nexus: dict[str, dict[str, Any]] = {}
        self._cometchat_sends: list[dict[str, Any]] = []
        self._cometchat_created: dict[str, dict[str, Any]] = {}
        self._sarvam_cohorts: dict[str, SarvamCohort] = {}

    def sarvam_campaign(self, campaign_id: str) -> SarvamCampaign:
        """The Sarvam campaign ``campaign_id`` (created ``scheduled`` on first use)."""
        with self._lock:
            return self._sarvam.setdefault(campaign_id, SarvamCampaign(campaign_id))

    def set_sarvam_status(self, campaign_id: str, status: str) -> SarvamCampaign:
        """Change a Sarvam campaign's status, as someone would in Sarvam's console."""
        if status not in SARVAM_STATUSES:
            raise ValueError(f"status must be one of {', '.join(SARVAM_STATUSES)}")
        campaign = self.sarvam_campaign(campaign_id)
        with self._lock:
            campaign.status, campaign.updated_at = status, now_iso()
        return campaign

    def update_sarvam(self, campaign_id: str, settings: dict[str, Any]) -> SarvamCampaign:
        """Store an accepted settings update."""
        campaign = self.sarvam_campaign(campaign_id)
        with self._lock:
            campaign.settings = settings
            campaign.updates += 1
            campaign.updated_at = now_iso()
        return campaign

    def add_sarvam_cohort(self, cohort: SarvamCohort) -> None:
        """Keep an uploaded cohort (its processing completes a moment later)."""
        with self._lock:
            self._sarvam_cohorts[cohort.cohort_id] = cohort

    def sarvam_cohort(self, cohort_id: str) -> dict[str, Any] | None:
        """An uploaded cohort as it stands now, or None."""
        with self._lock:
            found = self._sarvam_cohorts.get(cohort_id)
        return found.as_dict() if found else None

    def create_cometchat_campaign(self, name: str, template_id: str) -> dict[str, Any]:
        """A new CometChat campaign (step 1)."""
        with self._lock:
            campaign = {"id": f"cc-{len(self._cometchat_created) + 1:04d}", "name": name,
                        "templateId": template_id, "status": "draft"}
            self._cometchat_created[campaign["id"]] = campaign
        return dict(campaign)

    def cometchat_campaign_exists(
        self, campaign_id: str, configured: frozenset[str] | None
    ) -> bool:
        """Whether a campaign is known: created here, or one of ``configured`` (None: any)."""
        with self._lock:
            created = campaign_id in self._cometchat_created
        return created or configured is None or campaign_id in configured

    def add_nexus_batch(self, batch: dict[str, Any]) -> None:
        """Keep a created Nexus batch for ``batch-details``."""
        with self._lock:
            self._nexus[str(batch["_id"])] = dict(batch)

    def nexus_batch(self, batch_id: str) -> dict[str, Any] | None:
        """A Nexus batch created earlier, or None."""
        with self._lock:
            found = self._nexus.get(batch_id)
            return dict(found) if found else None

    def send_cometchat(self, campaign_id: str, scheduled_at: str | None) -> dict[str, Any]:
        """Send a CometChat campaign: its held recipients are released; the send is kept."""
        released = self.recorder.mark_sent("cometchat", campaign_id)
        send = {"campaign_id": campaign_id, "recipients": released,
                "scheduled_at": scheduled_at, "sent_at": now_iso()}
        with self._lock:
            self._cometchat_sends.append(send)
        return send

    def cometchat_sends(self) -> list[dict[str, Any]]:
        """Every CometChat send so far, oldest first."""
        with self._lock:
            return [dict(send) for send in self._cometchat_sends]


def now_iso() -> str:
    """The current UTC time as the pages write it: ``2023-11-07T05:31:56Z``."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
