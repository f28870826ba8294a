"""Call outcomes from the provider, recorded in the outcomes ledger.

Outcomes (``busy``, ``no_answer``, ``failed``, ``completed`` with a duration,
``provider_error``, ``internal_error``) come from a JSON-lines file with one outcome per line::

    {"id": "o-1", "idempotency_key": "loans:c1:000001:0", "phone_number": "+9198...",
     "outcome": "busy", "duration_seconds": 0, "at": "2026-03-02T10:15:00Z"}

(``row_number`` may replace ``phone_number``), or, for the local sandbox, from its outcome feed
(:mod:`cohortflow.sandbox.client`). Each fetch is appended to ``ledgers/outcomes/<campaign>/``
as one file; outcomes are de-duplicated by id when read. :mod:`cohortflow.dispatch.retries`
turns them into retries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

from cohortflow.config import CampaignConfig
from cohortflow.dispatch.cohorts import recipient_phones
from cohortflow.dispatch.outbox import Outbox
from cohortflow.errors import CohortflowError
from cohortflow.warehouse import append_record, ledger_dir, read_records, safe_component

log = logging.getLogger(__name__)

_PART_SUFFIX = re.compile(r"-part\d+of\d+$")
OUTCOME_KINDS = frozenset(
    {"busy", "no_answer", "failed", "completed", "provider_error", "internal_error"}
)


class OutcomeError(CohortflowError):
    """Outcomes could not be read (bad file, provider unreachable)."""

    code = "outcome_error"


@dataclass(frozen=True)
class Outcome:
    """One call outcome, tied to a recipient attempt."""

    outcome_id: str
    campaign_id: str
    cohort_id: str
    row_number: int
    attempt: int
    idempotency_key: str
    outcome: str
    duration_seconds: float | None
    at: str  # ISO 8601 with offset

    @property
    def at_time(self) -> dt.datetime:
        """``at`` as a datetime."""
        return dt.datetime.fromisoformat(self.at.replace("Z", "+00:00"))


@dataclass(frozen=True)
class IngestReport:
    """What an ingest added."""

    fetched: int
    new: int
    unmatched: int
    cursor: int | None = None


def _outcomes_dir(warehouse: Path, campaign_id: str) -> Path:
    return ledger_dir(warehouse, "outcomes") / safe_component(campaign_id)


# --------------------------------------------------------------------------- reading sources


def read_outcome_file(path: Path) -> list[dict[str, Any]]:
    """Outcomes from a JSON-lines file; errors name the file and line."""
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise OutcomeError(f"{path}: cannot be read ({exc.strerror})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise OutcomeError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise OutcomeError(f"{path}:{number}: expected a JSON object per line")
        records.append(record)
    return records


# --------------------------------------------------------------------------- ledger


def _normalise(
    record: dict[str, Any],
    campaign_id: str,
    batches: dict[str, Any],
    phone_rows: dict[str, dict[str, int]],
    received_at: str,
) -> Outcome | None:
    key = _PART_SUFFIX.sub("", str(record.get("idempotency_key") or record.get("batch_key") or ""))
    batch = batches.get(key)
    kind = str(record.get("outcome") or record.get("status") or "")
    if batch is None or kind not in OUTCOME_KINDS:
        return None
    row = record.get("row_number")
    if row is None:  # by number, else (campaigns of users) by user identifier
        rows = phone_rows.setdefault(batch.cohort_id, {})
        phone = str(record.get("phone_number") or record.get("phone") or "")
        user = str(record.get("user_identifier") or record.get("user_id") or "")
        row = rows.get(phone) if phone else rows.get(f"user:{user}") if user else None
    if row is None or int(row) not in batch.rows:
        return None
    duration = record.get("duration_seconds")
    at = str(record.get("at") or record.get("occurred_at") or received_at)
    outcome_id = str(record.get("outcome_id") or record.get("id") or f"{key}:{row}:{kind}:{at}")
    return Outcome(
        outcome_id=outcome_id,
        campaign_id=campaign_id,
        cohort_id=batch.cohort_id,
        row_number=int(row),
        attempt=batch.attempt,
        idempotency_key=key,
        outcome=kind,
        duration_seconds=float(duration) if duration is not None else None,
        at=at,
    )


def ingest_outcomes(
    campaign: CampaignConfig,
    warehouse: Path,
    records: Iterable[dict[str, Any]],
    *,
    source: str,
    cursor: int | None = None,
    received_at: dt.datetime | None = None,
) -> IngestReport:
    """Append the outcomes in ``records`` that belong to this campaign's batches.

    Records for other campaigns or unknown batches are counted as unmatched and skipped;
    re-ingesting the same records adds nothing. A record without a time (the sandbox's) is
    dated ``received_at`` (default: now).
    """
    received = (received_at or dt.datetime.now(dt.UTC)).isoformat()
    outbox = Outbox(warehouse, campaign.campaign_id)
    batches = {b.idempotency_key: b for b in outbox.batches()}
    phone_rows: dict[str, dict[str, int]] = {}
    for cohort_id in {b.cohort_id for b in batches.values()}:
        cohort = recipient_phones(warehouse, campaign.campaign_id, cohort_id)
        keys = [phone or f"user:{user}" for phone, user in zip(cohort.phones,
                                                                cohort.identifiers, strict=True)]
        phone_rows[cohort_id] = dict(zip(keys, cohort.row_numbers, strict=True))
    records = list(records)
    known = {o.outcome_id for o in read_outcomes(campaign, warehouse)}
    fresh = []
    matched = 0
    for record in records:
        outcome = _normalise(record, campaign.campaign_id, batches, phone_rows, received)
        if outcome is None:
            continue
        matched += 1
        if outcome.outcome_id not in known:
            known.add(outcome.outcome_id)
            fresh.append(outcome)
    if fresh or cursor is not None:
        digest = hashlib.sha256(
            json.dumps([o.outcome_id for o in fresh] + [cursor], default=str).encode()
        ).hexdigest()[:16]
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        append_record(
            _outcomes_dir(warehouse, campaign.campaign_id),
            f"{stamp}-{digest}.json",
            {"source": source, "cursor": cursor, "outcomes": [asdict(o) for o in fresh]},
        )
    log.info("outcomes for %s from %s: %d new, %d unmatched", campaign.campaign_id, source,
             len(fresh), len(records) - matched)
    return IngestReport(len(records), len(fresh), len(records) - matched, cursor)


def read_outcomes(campaign: CampaignConfig, warehouse: Path) -> list[Outcome]:
    """Every recorded outcome of the campaign, de-duplicated by id, in ledger order."""
    seen: dict[str, Outcome] = {}
    for chunk in read_records(_outcomes_dir(warehouse, campaign.campaign_id)):
        for item in chunk.get("outcomes", []):
            seen.setdefault(item["outcome_id"], Outcome(**item))
    return list(seen.values())


def sandbox_cursor(campaign: CampaignConfig, warehouse: Path) -> int:
    """The last sandbox outcome id already ingested for this campaign (0 when none)."""
    cursors = [
        int(chunk["cursor"])
        for chunk in read_records(_outcomes_dir(warehouse, campaign.campaign_id))
        if chunk.get("cursor") is not None
    ]
    return max(cursors, default=0)


def collect_outcomes(
    campaign: CampaignConfig,
    warehouse: Path,
    *,
    source_file: Path | None = None,
    session: requests.Session | None = None,
    now: dt.datetime | None = None,
) -> IngestReport:
    """Ingest from ``source_file`` (JSON lines) or, without one, from the sandbox provider.

    Sandbox outcomes carry no time; they are dated ``now`` (default: the wall clock).
    """
    if source_file is not None:
        return ingest_outcomes(
            campaign, warehouse, read_outcome_file(source_file), source=str(source_file),
            received_at=now,
        )
    if campaign.provider is None:
        raise OutcomeError(
            f"campaign {campaign.campaign_id}: no provider configured and no outcome file "
            "given; pass --file outcomes.jsonl"
        )
    from cohortflow.sandbox.client import fetch_outcomes, outcomes_url

    since = sandbox_cursor(campaign, warehouse)
    url = outcomes_url(campaign.provider.base_url)
    try:
        records, cursor = fetch_outcomes(url, since, session=session)
    except (requests.RequestException, ValueError) as exc:
        raise OutcomeError(f"{url}: outcomes could not be fetched ({type(exc).__name__})") from None
    records = [{**record, "outcome_id": f"sandbox:{record.get('id')}"} for record in records]
    return ingest_outcomes(
        campaign, warehouse, records, source="sandbox", cursor=cursor, received_at=now
    )


