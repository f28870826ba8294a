"""Dispatch reads the cohorts ingest published: completed ones only, rows in the order asked."""

from __future__ import annotations

from pathlib import Path

from cohortflow.dispatch.callers import caller_plan
from cohortflow.dispatch.cohorts import build_batch, published_cohorts
from tests.support.dispatch import indian_numbers, write_cohort


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
