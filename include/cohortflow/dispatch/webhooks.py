"""Webhooks: cohort completed/failed, batch submitted/failed/unconfirmed, campaign ended.

Each event is a JSON POST to ``webhook_config.url``::

    {"event": "batch_submitted", "event_id": "...", "campaign_id": "...",
     "occurred_at": "...", "metadata": {...from the campaign...}, "data": {...}}

sent up to :data:`MAX_ATTEMPTS` times with a short backoff. Every attempt is recorded in
``ledgers/webhooks/<campaign>/``; an event already delivered (by ``event_id``) is not sent
again, so re-running a task does not repeat webhooks. Payloads never carry phone numbers or
secrets: only ids, counts and messages, with anything phone-like masked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from cohortflow.config import CampaignConfig
from cohortflow.phones import mask_phone
from cohortflow.warehouse import (
    append_record,
    campaign_cohorts_glob,
    ledger_dir,
    read_records,
    read_summary,
    safe_component,
)

log = logging.getLogger(__name__)

EVENTS = frozenset(
    {"cohort_completed", "cohort_failed", "batch_submitted", "batch_failed",
     "batch_unconfirmed", "campaign_ended"}
)
MAX_ATTEMPTS = 3
TIMEOUT_SECONDS = 10.0
_PHONE_LIKE = re.compile(r"\+?\d[\d ()-]{6,}\d")
_SECRET_KEYS = re.compile(r"(secret|token|password|api[_-]?key|authorization)", re.IGNORECASE)


def _webhook_dir(warehouse: Path, campaign_id: str) -> Path:
    return ledger_dir(warehouse, "webhooks") / safe_component(campaign_id)


def sanitise(value: Any) -> Any:
    """``value`` with phone-like text masked and secret-looking keys removed, recursively."""
    if isinstance(value, dict):
        return {
            key: sanitise(item) for key, item in value.items() if not _SECRET_KEYS.search(str(key))
        }
    if isinstance(value, list | tuple):
        return [sanitise(item) for item in value]
    if isinstance(value, str):
        return _PHONE_LIKE.sub(lambda m: mask_phone(m.group(0)), value)
    return value


def delivered(warehouse: Path, campaign_id: str, event_id: str) -> bool:
    """Whether ``event_id`` was already delivered (a 2xx answer was recorded)."""
    folder = _webhook_dir(warehouse, campaign_id)
    return any(r.get("ok") for r in read_records(folder, f"{_event_stem(event_id)}-*.json"))


def _event_stem(event_id: str) -> str:
    return hashlib.sha256(event_id.encode()).hexdigest()[:20]


def send_event(
    campaign: CampaignConfig,
    warehouse: Path,
    event: str,
    event_id: str,
    data: dict[str, Any],
    *,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: dt.datetime | None = None,
) -> bool:
    """POST ``event`` to the campaign's webhook; True when delivered (now or before).

    Never raises for delivery problems: they are recorded and logged, and the caller's work
    (sending a batch, publishing a cohort) is unaffected.
    """
    config = campaign.webhook_config
    if config is None:
        return False
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}; one of {sorted(EVENTS)}")
    if delivered(warehouse, campaign.campaign_id, event_id):
        return True
    body = {
        "event": event,
        "event_id": event_id,
        "campaign_id": campaign.campaign_id,
        "occurred_at": (now or dt.datetime.now(dt.UTC)).isoformat(),
        "metadata": config.metadata,
        "data": sanitise(data),
    }
    http = session or requests.Session()
    folder = _webhook_dir(warehouse, campaign.campaign_id)
    previous = len(read_records(folder, f"{_event_stem(event_id)}-*.json"))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        status: int | None = None
        error: str | None = None
        try:
            response = http.post(config.url, json=body, timeout=TIMEOUT_SECONDS,
                                 headers={"Idempotency-Key": event_id})
            status = response.status_code
            if not response.ok:
                error = f"HTTP {status}"
        except requests.RequestException as exc:
            error = type(exc).__name__
        ok = error is None
        append_record(
            folder,
            f"{_event_stem(event_id)}-{previous + attempt:03d}.json",
            {
                "event": event,
                "event_id": event_id,
                "attempt": previous + attempt,
                "ok": ok,
                "status_code": status,
                "error": error,
                "at": dt.datetime.now(dt.UTC).isoformat(),
                "body": body,
            },
        )
        if ok:
            return True
        if attempt < MAX_ATTEMPTS:
            sleep(0.5 * 2 ** (attempt - 1))
    log.warning("webhook %s for campaign %s not delivered after %d attempts: %s",
                event, campaign.campaign_id, MAX_ATTEMPTS, error)
    return False


def notify_cohorts(campaign: CampaignConfig, warehouse: Path) -> int:
    """Send ``cohort_completed``/``cohort_failed`` for every cohort not yet announced.

    Reads each cohort's ``summary.json``; returns how many events were delivered now.
    """
    if campaign.webhook_config is None:
        return 0
    sent = 0
    for folder in campaign_cohorts_glob(warehouse, campaign.campaign_id):
        summary = read_summary(folder)
        if not summary or summary.get("status") not in ("completed", "failed"):
            continue
        cohort_id = str(summary.get("cohort_id") or folder.name.split("=", 1)[1])
        event = f"cohort_{summary['status']}"
        event_id = f"{event}:{campaign.campaign_id}:{cohort_id}"
        if delivered(warehouse, campaign.campaign_id, event_id):
            continue
        data: dict[str, Any] = {
            key: summary.get(key)
            for key in ("cohort_id", "name", "status", "total_records", "valid_records",
                        "rejected_records", "error")
            if key in summary
        }
        sent += send_event(campaign, warehouse, event, event_id, data)
    return sent
