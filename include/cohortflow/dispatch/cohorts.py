"""Reading published cohorts for dispatch: which cohorts are ready, and their recipients.

A cohort is *published* once its folder holds ``summary.json`` with status ``completed``
(the ingest pipeline writes it last). Dispatch reads ``recipients.parquet`` column by column:
row numbers and phones to plan, whole rows only for the batch being sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cohortflow.dispatch.callers import CallerPlan
from cohortflow.providers import Batch, BatchRecipient
from cohortflow.warehouse import (
    FIXED_RECIPIENT_COLUMNS,
    RECIPIENTS_FILE,
    campaign_cohorts_glob,
    cohort_dir,
    read_summary,
)


@dataclass(frozen=True)
class CohortRecipients:
    """The planning view of one cohort: row numbers, phones (None for a user without one, in
    a campaign of users) and user identifiers, in row order."""

    cohort_id: str
    row_numbers: list[int]
    phones: list[str | None]
    identifiers: list[str | None]

    def ordinal_of(self) -> dict[int, int]:
        """Row number → 0-based position (used for caller-ID assignment)."""
        return {row: index for index, row in enumerate(self.row_numbers)}


def published_cohorts(warehouse: Path, campaign_id: str) -> list[str]:
    """Cohort ids of ``campaign_id`` whose summary says ``completed``, sorted."""
    cohorts = []
    for folder in campaign_cohorts_glob(warehouse, campaign_id):
        summary = read_summary(folder)
        completed = summary is not None and summary.get("status") == "completed"
        if summary is not None and completed and (folder / RECIPIENTS_FILE).exists():
            cohorts.append(str(summary.get("cohort_id") or folder.name.split("=", 1)[1]))
    return sorted(cohorts)


def recipient_phones(warehouse: Path, campaign_id: str, cohort_id: str) -> CohortRecipients:
    """Row numbers, phone numbers and user identifiers of a published cohort, by row number."""
    path = cohort_dir(warehouse, campaign_id, cohort_id) / RECIPIENTS_FILE
    has_identifier = "user_identifier" in pq.read_schema(path).names
    columns = ["row_number", "phone_number", *(["user_identifier"] if has_identifier else [])]
    table = pq.read_table(path, columns=columns).sort_by("row_number")
    rows = [int(v) for v in table.column("row_number").to_pylist()]
    return CohortRecipients(
        cohort_id,
        rows,
        [None if v is None else str(v) for v in table.column("phone_number").to_pylist()],
        [None if v is None else str(v) for v in table.column("user_identifier").to_pylist()]
        if has_identifier else [None] * len(rows),
    )


def read_rows(
    warehouse: Path, campaign_id: str, cohort_id: str, rows: Iterable[int]
) -> list[dict[str, Any]]:
    """Full recipient rows for ``rows`` (any order), returned in the order asked."""
    wanted = list(rows)
    path = cohort_dir(warehouse, campaign_id, cohort_id) / RECIPIENTS_FILE
    table = pq.read_table(path)
    selected = table.filter(pc.is_in(table.column("row_number"), pa.array(wanted, pa.int64())))
    by_row = {int(r["row_number"]): r for r in selected.to_pylist()}
    missing = [row for row in wanted if row not in by_row]
    if missing:
        raise LookupError(
            f"{path}: rows {missing[:5]} of the outbox batch are not in the cohort; the cohort "
            "was replaced after it was planned. Restore it or cancel the campaign."
        )
    return [by_row[row] for row in wanted]


def build_batch(
    warehouse: Path,
    campaign_id: str,
    cohort_id: str,
    batch_number: int,
    attempt: int,
    rows: Iterable[int],
    callers: CallerPlan,
    *,
    name: str = "",
) -> Batch:
    """The :class:`Batch` the provider adapter sends, with caller IDs assigned by ordinal."""
    records = read_rows(warehouse, campaign_id, cohort_id, rows)
    ordinals = recipient_phones(warehouse, campaign_id, cohort_id).ordinal_of()
    recipients = []
    for record in records:
        assignment = callers.assign(ordinals[int(record["row_number"])])
        variables = {
            key: "" if value is None else str(value)
            for key, value in record.items()
            if key not in FIXED_RECIPIENT_COLUMNS
        }
        recipients.append(
            BatchRecipient(
                row_number=int(record["row_number"]),
                phone_number=record["phone_number"],
                user_identifier=record.get("user_identifier"),
                variables=variables,
                message=record.get("message"),
                payload=record.get("payload"),
                region=record.get("region"),
                connection_id=assignment.connection_id if assignment else None,
                caller_id=assignment.caller_id if assignment else None,
            )
        )
    return Batch(
        campaign_id=campaign_id,
        cohort_id=cohort_id,
        batch_number=batch_number,
        attempt=attempt,
        idempotency_key=Batch.key_for(campaign_id, cohort_id, batch_number, attempt),
        recipients=tuple(recipients),
        name=name,
    )
