"""Call outcomes from the provider, and the retries they call for under ``retry_config``.

Outcomes (``busy``, ``no_answer``, ``failed``, ``completed`` with a duration,
``provider_error``, ``internal_error``) come from the sandbox's ``GET /_sandbox/outcomes`` or,
for other providers, a JSON-lines file with one outcome per line::

    {"id": "o-1", "idempotency_key": "loans:c1:000001:0", "phone_number": "+9198...",
     "outcome": "busy", "duration_seconds": 0, "at": "2026-03-02T10:15:00Z"}

(``row_number`` may replace ``phone_number``.) Each fetch is appended to
``ledgers/outcomes/<campaign>/`` as one file; outcomes are de-duplicated by id when read.

Retry rules (Sarvam's ``retry_config``): ``busy``, ``failed`` and ``no_answer`` are retried
when enabled, up to ``max_retries`` retries, after ``retry_interval_minutes[n-1]`` (the last
interval repeats). ``short_duration`` is a ``completed`` call shorter than
``threshold_seconds``, under the same budget. ``provider_error`` and ``internal_error`` use
their own ``max_retries`` and ``retry_interval_minutes``. The retry time is the outcome time
plus the interval, moved to the next allowed window for that recipient (never after
``end_timestamp``). Retries are computed from the ledgers each time, so they are never
scheduled twice; dispatch turns the due ones into batches of attempt ``n`` (a new key).
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
from urllib.parse import urlsplit

import requests

from cohortflow.cohort_source import read_cohort
from cohortflow.config import CampaignConfig
from cohortflow.errors import CohortflowError
from cohortflow.ledger import append_record, read_records
from cohortflow.outbox import Outbox
from cohortflow.phones import mask_phone
from cohortflow.warehouse_paths import ledger_dir, safe_component
from cohortflow.windows import next_open

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
class RetryDecision:
    """Whether and when a recipient is called again after its latest outcome."""

    cohort_id: str
    row_number: int
    attempt: int  # the attempt the retry would be (latest + 1)
    kind: str | None  # busy, no_answer, failed, short_duration, provider_error, internal_error
    retry: bool
    due_at: dt.datetime | None
    reason: str


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


def fetch_sandbox_outcomes(
    base_url: str, since: int, *, session: requests.Session | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Outcomes after id ``since`` from the sandbox, and the new cursor."""
    http = session or requests.Session()
    url = f"{base_url.rstrip('/')}/_sandbox/outcomes"
    try:
        response = http.get(url, params={"since": since}, timeout=30)
        response.raise_for_status()
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise OutcomeError(f"{url}: outcomes could not be fetched ({type(exc).__name__})") from None
    items = body.get("outcomes", body) if isinstance(body, dict) else body
    records = [dict(item) for item in items]
    ids = [int(r["id"]) for r in records if str(r.get("id", "")).isdigit()]
    cursor = int(body.get("next_since", max(ids, default=since))) if isinstance(body, dict) else (
        max(ids, default=since)
    )
    return records, cursor


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
    if row is None:
        phone = str(record.get("phone_number") or record.get("phone") or "")
        row = phone_rows.setdefault(batch.cohort_id, {}).get(phone)
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
        cohort = read_cohort(warehouse, campaign.campaign_id, cohort_id)
        phone_rows[cohort_id] = dict(zip(cohort.phones, cohort.row_numbers, strict=True))
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
    since = sandbox_cursor(campaign, warehouse)
    parts = urlsplit(campaign.provider.base_url)
    records, cursor = fetch_sandbox_outcomes(
        f"{parts.scheme}://{parts.netloc}", since, session=session
    )
    records = [{**record, "outcome_id": f"sandbox:{record.get('id')}"} for record in records]
    return ingest_outcomes(
        campaign, warehouse, records, source="sandbox", cursor=cursor, received_at=now
    )


# --------------------------------------------------------------------------- retries


def classify(outcome: Outcome, campaign: CampaignConfig) -> str | None:
    """The retry kind of an outcome, or None for a successful call."""
    if outcome.outcome == "completed":
        short = campaign.retry_config.retry_on.short_duration
        duration = outcome.duration_seconds
        if short.enabled and duration is not None and duration < short.threshold_seconds:
            return "short_duration"
        return None
    return outcome.outcome


def decide_retry(outcome: Outcome, campaign: CampaignConfig, phone: str) -> RetryDecision:
    """Whether the recipient of ``outcome`` is retried, and when (inside an allowed window)."""
    from cohortflow.dispatch import recipient_zones

    config = campaign.retry_config
    kind = classify(outcome, campaign)
    attempt = outcome.attempt + 1

    def no(reason: str) -> RetryDecision:
        return RetryDecision(outcome.cohort_id, outcome.row_number, attempt, kind, False, None,
                             reason)

    if kind is None:
        return no("completed")
    if kind in ("provider_error", "internal_error"):
        rule = getattr(config.retry_on, kind)
        enabled, limit = rule.enabled, rule.max_retries
        interval = dt.timedelta(minutes=rule.retry_interval_minutes)
    else:
        enabled = getattr(config.retry_on, kind).enabled
        limit, interval = config.max_retries, config.interval_for(attempt)
    if not enabled:
        return no(f"{kind} retries are disabled")
    if attempt > limit:
        return no(f"{kind}: max_retries {limit} reached")
    earliest = outcome.at_time + interval
    zones = recipient_zones(campaign, phone)
    due = next_open(earliest, campaign.allowed_schedule, zones, until=campaign.end_timestamp)
    if due is None:
        return no(f"{kind}: no allowed window before the campaign ends")
    return RetryDecision(outcome.cohort_id, outcome.row_number, attempt, kind, True, due,
                         f"{kind}: retry {attempt} of {limit}")


def schedule_retries(campaign: CampaignConfig, warehouse: Path) -> list[RetryDecision]:
    """A decision for each recipient's latest outcome (computed, so never duplicated)."""
    latest: dict[tuple[str, int], Outcome] = {}
    for outcome in read_outcomes(campaign, warehouse):
        key = (outcome.cohort_id, outcome.row_number)
        current = latest.get(key)
        if current is None or (outcome.attempt, outcome.at_time) >= (
            current.attempt,
            current.at_time,
        ):
            latest[key] = outcome
    phones: dict[str, dict[int, str]] = {}
    decisions = []
    for (cohort_id, row), outcome in sorted(latest.items()):
        if cohort_id not in phones:
            cohort = read_cohort(warehouse, campaign.campaign_id, cohort_id)
            phones[cohort_id] = dict(zip(cohort.row_numbers, cohort.phones, strict=True))
        decision = decide_retry(outcome, campaign, phones[cohort_id][row])
        log.debug("recipient %s: %s", mask_phone(phones[cohort_id][row]), decision.reason)
        decisions.append(decision)
    return decisions


def due_retries(
    campaign: CampaignConfig, warehouse: Path, now: dt.datetime
) -> list[RetryDecision]:
    """Retries whose time has come at ``now``."""
    return [
        d
        for d in schedule_retries(campaign, warehouse)
        if d.retry and d.due_at is not None and d.due_at <= now
    ]
