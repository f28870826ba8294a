"""Dispatch reads published cohorts with the same names the ingest pipeline writes."""

from __future__ import annotations

from pathlib import Path

from cohortflow import cohort_source, ingest, warehouse
from cohortflow.callers import caller_plan
from cohortflow.cohort_source import build_batch, published_cohorts
from tests.dispatch_support import indian_numbers, write_cohort


def test_file_and_column_names_match_the_ingest_pipeline() -> None:
    assert cohort_source.RECIPIENTS_FILE == ingest.RECIPIENTS_FILE
    assert cohort_source.SUMMARY_FILE == ingest.SUMMARY_FILE
    assert cohort_source.FIXED_RECIPIENT_COLUMNS == warehouse.FIXED_RECIPIENT_COLUMNS


def test_only_completed_cohorts_are_published(tmp_path: Path) -> None:
    write_cohort(tmp_path, "loans", "a", indian_numbers(2))
    write_cohort(tmp_path, "loans", "b", indian_numbers(2), status="failed")
    assert published_cohorts(tmp_path, "loans") == ["a"]


def test_batches_carry_variables_in_the_order_asked(tmp_path: Path) -> None:
    write_cohort(tmp_path, "loans", "a", indian_numbers(3), variables={"name": ["A", "B", "C"]})
    batch = build_batch(tmp_path, "loans", "a", 1, 0, [4, 2], caller_plan([]))
    assert [r.row_number for r in batch.recipients] == [4, 2]
    assert batch.recipients[0].variables == {"name": "C"}
    assert batch.idempotency_key == "loans:a:000001:0"
