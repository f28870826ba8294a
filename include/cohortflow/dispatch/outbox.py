"""The outbox and results ledgers: a batch is written before it is sent, each answer after.

``ledgers/outbox/<campaign>/<cohort>/a<attempt>-b<batch>.json`` holds what a batch is (its
recipients' row numbers, idempotency key, attempt, when it became due, when it may be sent).
``ledgers/results/<campaign>/<cohort>/a<attempt>-b<batch>-r<round>.json`` holds, in rounds:
``sending`` (written just before a request), then what the answer meant
(:data:`~cohortflow.providers.base.Outcome`), and later an operator's resolution.

A batch's status follows from its last record (:meth:`Outbox.status_of`): ``pending`` (to be
sent), ``interrupted`` (``sending`` without an answer: the sender stopped mid-request, so the
provider may have it), ``submitted``, ``failed`` (refused), ``unconfirmed`` (the outcome is
unknown and the provider does not de-duplicate: never sent again by itself), ``cancelled`` or
``released`` (its recipients are planned again in a new batch, with a new key and name).
A recipient is in at most one batch of an attempt round that is not released. Batch numbers
count up from 1 per cohort and round, in the order batches were planned
(docs/decisions/001-outbox-before-send.md).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from cohortflow.providers import Batch, Outcome, SubmitResult
from cohortflow.warehouse import (
    append_record,
    folder_lock,
    ledger_dir,
    read_records,
    safe_component,
)

#: A batch that was not sent (or, to a provider that de-duplicates, whose outcome stayed
#: unknown) is tried in this many dispatch runs before it is marked failed (or unconfirmed).
MAX_SUBMIT_ROUNDS = 5

BatchStatus = Literal[
    "pending", "interrupted", "submitted", "failed", "unconfirmed", "cancelled", "released"
]
RecordStatus = Literal[
    "sending", "pending", "submitted", "failed", "unconfirmed", "cancelled", "released"
]
#: Statuses no dispatch run changes by itself.
FINAL_STATUSES: frozenset[str] = frozenset(
    {"submitted", "failed", "unconfirmed", "cancelled", "released"}
)


@dataclass(frozen=True)
class OutboxBatch:
    """A planned batch as recorded in the outbox (row numbers, not data)."""

    campaign_id: str
    cohort_id: str
    batch_number: int
    attempt: int
    idempotency_key: str
    rows: tuple[int, ...]
    zones: tuple[str, ...] = ()  # recipient timezones the window was checked in ("" = campaign)
    due_at: str = ""  # ISO time the recipients became due (the plan's clock)
    planned_at: str = ""  # ISO wall-clock time the plan was made
    send_after: float = 0.0  # wall-clock epoch seconds before which it is not sent (pacing)
    provider_kind: str = ""
    name: str = ""

    @property
    def ref(self) -> BatchRef:
        """The small reference passed between tasks."""
        return BatchRef(self.campaign_id, self.cohort_id, self.batch_number, self.attempt)

    def to_record(self) -> dict[str, Any]:
        """The JSON record written to the outbox."""
        record = asdict(self)
        record["rows"] = list(self.rows)
        record["zones"] = list(self.zones)
        record["recipients"] = len(self.rows)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> OutboxBatch:
        """Read an outbox record back."""
        fields = {k: v for k, v in record.items() if k in cls.__dataclass_fields__}
        fields["rows"] = tuple(fields["rows"])
        fields["zones"] = tuple(fields.get("zones", ()))
        return cls(**fields)


@dataclass(frozen=True)
class BatchRef:
    """Identifies one batch; small enough for XCom."""

    campaign_id: str
    cohort_id: str
    batch_number: int
    attempt: int

    @property
    def idempotency_key(self) -> str:
        """The batch's deterministic idempotency key."""
        return Batch.key_for(self.campaign_id, self.cohort_id, self.batch_number, self.attempt)

    def as_dict(self) -> dict[str, Any]:
        """For XCom."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchRef:
        """From XCom."""
        return cls(
            str(data["campaign_id"]),
            str(data["cohort_id"]),
            int(data["batch_number"]),
            int(data["attempt"]),
        )


@dataclass(frozen=True)
class ResultRecord:
    """One round of a batch: a send starting, an answer, a cancellation or a resolution."""

    idempotency_key: str
    round: int
    status: RecordStatus  # the batch's status once this record is written
    final: bool
    recorded_at: str
    outcome: Outcome | None = None  # what the provider's answer meant
    status_code: int | None = None
    accepted: int = 0
    provider_reference: str | None = None
    error: str | None = None
    http_attempts: int = 0
    response: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None  # who resolved it (an operator's command), for resolutions
    # What the provider reported about the accepted recipients (SubmitResult): None = not
    # reported; rejected_rows: [{"row_number", "reason"}] refused by name.
    confirmed: int | None = None
    provider_rejected: int | None = None
    provider_status: str | None = None
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ResultRecord:
        """Read a results record back."""
        return cls(**{k: v for k, v in record.items() if k in cls.__dataclass_fields__})


def _file_stem(batch_number: int, attempt: int) -> str:
    return f"a{attempt:02d}-b{batch_number:06d}"


class Outbox:
    """The outbox and results ledgers of one campaign."""

    def __init__(self, warehouse: Path, campaign_id: str) -> None:
        """Ledgers live under ``warehouse/ledgers/{outbox,results}/<campaign_id>/``."""
        self.warehouse = warehouse
        self.campaign_id = campaign_id
        self.outbox_dir = ledger_dir(warehouse, "outbox") / safe_component(campaign_id)
        self.results_dir = ledger_dir(warehouse, "results") / safe_component(campaign_id)

    # ------------------------------------------------------------------ reading

    def batches(self) -> list[OutboxBatch]:
        """Every batch in the outbox, ordered by cohort, attempt and batch number."""
        records = read_records(self.outbox_dir, "*/*.json")
        batches = [OutboxBatch.from_record(r) for r in records]
        return sorted(batches, key=lambda b: (b.cohort_id, b.attempt, b.batch_number))

    def batch(self, ref: BatchRef) -> OutboxBatch:
        """The outbox record of ``ref``; a clear error when it is missing."""
        path = self._batch_path(ref.cohort_id, ref.batch_number, ref.attempt)
        records = read_records(path.parent, path.name)
        if not records:
            raise FileNotFoundError(
                f"{path}: batch {ref.idempotency_key} is not in the outbox; "
                "plan the campaign again (cohortflow dispatch) before submitting"
            )
        return OutboxBatch.from_record(records[0])

    def results(self) -> dict[str, list[ResultRecord]]:
        """Result records per idempotency key, oldest first."""
        grouped: dict[str, list[ResultRecord]] = defaultdict(list)
        for record in read_records(self.results_dir, "*/*.json"):
            result = ResultRecord.from_record(record)
            grouped[result.idempotency_key].append(result)
        for results in grouped.values():
            results.sort(key=lambda r: r.round)
        return dict(grouped)

    def results_for(self, ref: BatchRef) -> list[ResultRecord]:
        """Result records of one batch, oldest first."""
        folder = self.results_dir / safe_component(ref.cohort_id)
        pattern = f"{_file_stem(ref.batch_number, ref.attempt)}-r*.json"
        results = [ResultRecord.from_record(r) for r in read_records(folder, pattern)]
        return sorted(results, key=lambda r: r.round)

    @staticmethod
    def status_of(results: list[ResultRecord]) -> BatchStatus:
        """A batch's status from its records (see the module docstring)."""
        if not results:
            return "pending"
        last = results[-1]
        if last.status == "sending":
            return "interrupted"
        if last.status == "submitted":
            return "submitted"
        if last.final and last.status in FINAL_STATUSES:
            return last.status
        return "pending"

    @staticmethod
    def rounds_sent(results: list[ResultRecord]) -> int:
        """How many answers (not starts, cancellations or resolutions) a batch has had."""
        return sum(r.outcome is not None for r in results)

    def members(self, attempt: int) -> set[tuple[str, int]]:
        """(cohort_id, row_number) of every recipient in a batch of round ``attempt`` that is
        not released (a released batch's recipients are planned again)."""
        results = self.results()
        return {
            (batch.cohort_id, row)
            for batch in self.batches()
            if batch.attempt == attempt
            and self.status_of(results.get(batch.idempotency_key, [])) != "released"
            for row in batch.rows
        }

    # ------------------------------------------------------------------ writing

    def _batch_path(self, cohort_id: str, batch_number: int, attempt: int) -> Path:
        stem = _file_stem(batch_number, attempt)
        return self.outbox_dir / safe_component(cohort_id) / f"{stem}.json"

    def lock(self) -> Any:
        """An exclusive lock held while batches are numbered and written (one planner)."""
        return folder_lock(self.outbox_dir)

    def sending_lock(self, ref: BatchRef) -> Any:
        """A non-blocking lock held while one batch is sent: yields False when another
        process holds it (the batch is being sent there). Released when the process dies."""
        folder = self.results_dir / safe_component(ref.cohort_id)
        return folder_lock(folder, name=f".{_file_stem(ref.batch_number, ref.attempt)}.lock",
                           wait=False)

    def next_batch_number(self, cohort_id: str, attempt: int) -> int:
        """One more than the highest batch number of ``cohort_id`` in round ``attempt``."""
        folder = self.outbox_dir / safe_component(cohort_id)
        numbers = [
            int(path.stem.split("-b")[1])
            for path in folder.glob(f"a{attempt:02d}-b*.json")
        ]
        return max(numbers, default=0) + 1

    def write_batches(self, batches: Iterable[OutboxBatch]) -> None:
        """Write batches to the outbox (before anything is sent); existing ones are kept."""
        for batch in batches:
            path = self._batch_path(batch.cohort_id, batch.batch_number, batch.attempt)
            append_record(path.parent, path.name, batch.to_record())

    def write_result(
        self,
        batch: OutboxBatch,
        *,
        status: RecordStatus,
        final: bool,
        result: SubmitResult | None = None,
        outcome: Outcome | None = None,
        error: str | None = None,
        actor: str | None = None,
        now: dt.datetime | None = None,
    ) -> ResultRecord:
        """Append a round for ``batch``: a send starting (``sending``), the provider's answer
        (``result``, or ``outcome`` and ``error`` when no answer came), a cancellation or an
        operator's resolution (``actor``)."""
        for _ in range(3):  # a concurrent writer took the round: take the next one
            record = self._record(batch, status, final, result, outcome, error, actor, now)
            folder = self.results_dir / safe_component(batch.cohort_id)
            name = f"{_file_stem(batch.batch_number, batch.attempt)}-r{record.round:03d}.json"
            if append_record(folder, name, asdict(record)):
                return record
        raise FileExistsError(
            f"{folder}: could not record a round of batch {batch.idempotency_key}: other "
            "processes kept recording it at the same time"
        )

    def _record(
        self,
        batch: OutboxBatch,
        status: RecordStatus,
        final: bool,
        result: SubmitResult | None,
        outcome: Outcome | None,
        error: str | None,
        actor: str | None,
        now: dt.datetime | None,
    ) -> ResultRecord:
        previous = self.results_for(batch.ref)
        return ResultRecord(
            idempotency_key=batch.idempotency_key,
            round=len(previous) + 1,
            status=status,
            final=final,
            recorded_at=(now or dt.datetime.now(dt.UTC)).isoformat(),
            outcome=result.outcome if result else outcome,
            status_code=result.status_code if result else None,
            accepted=result.accepted if result else 0,
            provider_reference=result.provider_reference if result else None,
            error=error if error is not None else (result.error if result else None),
            http_attempts=result.attempts if result else 0,
            response=result.response if result else {},
            actor=actor,
            confirmed=result.confirmed if result else None,
            provider_rejected=result.provider_rejected if result else None,
            provider_status=result.provider_status if result else None,
            rejected_rows=[asdict(r) for r in result.rejected_rows] if result else [],
        )
