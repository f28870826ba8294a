"""The output contracts as the pipeline checks them: pandera's pyarrow backend on Arrow
tables (the same rules the benchmark's pandas baseline applies: tests/bench)."""

from __future__ import annotations

from typing import Any

import pandera.errors
import pyarrow as pa
import pytest

from cohortflow.ingest import contracts

GOOD_RECIPIENTS: dict[str, list[Any]] = {
    "row_number": [1, 2, 5],
    "phone_number": ["+919876543210", "+14155550123", "+80012345678"],
    "region": ["IN", "US", "001"],
}
GOOD_REJECTIONS: dict[str, list[Any]] = {
    "row_number": [3, 4],
    "rejected_reason": ["invalid_phone: too short", "duplicate_phone: same number as row 1"],
    "reason_code": ["invalid_phone", "duplicate_phone"],
}


def _broken(good: dict[str, list[Any]], column: str, value: Any) -> dict[str, list[Any]]:
    return {**good, column: [value, *good[column][1:]]}


def failed_checks(schema: Any, table: Any) -> set[str]:
    """The checks (pandera's names) that ``table`` fails under ``schema``: empty when valid."""
    try:
        schema.validate(table, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        checks = exc.failure_cases["check"]  # an Arrow or a pandas column
        return {str(check).split("(")[0]
                for check in (checks.to_pylist() if hasattr(checks, "to_pylist") else checks)}
    return set()


def arrow_table(columns: dict[str, list[Any]]) -> pa.Table:
    """``columns`` as the pipeline writes them: ``row_number`` int64, the rest text."""
    return pa.table({
        name: pa.array(values, pa.int64() if name == "row_number" else pa.string())
        for name, values in columns.items()})


CASES = [
    ("Recipients", GOOD_RECIPIENTS, set()),
    ("Recipients", _broken(GOOD_RECIPIENTS, "row_number", 0), {"greater_than_or_equal_to"}),
    ("Recipients", _broken(GOOD_RECIPIENTS, "phone_number", "98765 43210"), {"str_matches"}),
    ("Recipients", _broken(GOOD_RECIPIENTS, "phone_number", "+0919876543210"), {"str_matches"}),
    ("Recipients", _broken(GOOD_RECIPIENTS, "phone_number", None), {"not_nullable"}),
    ("Recipients", _broken(GOOD_RECIPIENTS, "region", "in"), {"str_matches"}),
    ("Recipients", {**GOOD_RECIPIENTS, "row_number": [1, 1, 2]}, {"field_uniqueness"}),
    ("Recipients", {**GOOD_RECIPIENTS, "phone_number": ["+14155550123"] * 3},
     {"field_uniqueness"}),
    ("Rejections", GOOD_REJECTIONS, set()),
    ("Rejections", _broken(GOOD_REJECTIONS, "rejected_reason", "bad: reason"), {"str_matches"}),
    ("Rejections", _broken(GOOD_REJECTIONS, "reason_code", None), {"not_nullable"}),
]


@pytest.mark.parametrize(("contract", "columns", "failed"), CASES)
def test_the_arrow_contract_enforces_its_rules(
    contract: str, columns: dict[str, list[Any]], failed: set[str]
) -> None:
    assert failed_checks(contracts.arrow_schema(contract), arrow_table(columns)) == failed


def test_a_wrong_column_type_breaks_the_arrow_contract() -> None:
    table = pa.table({**GOOD_RECIPIENTS, "row_number": pa.array([1, 2, 5], pa.int32())})
    with pytest.raises(pandera.errors.SchemaErrors, match="row_number"):
        contracts.arrow_schema("Recipients").validate(table, lazy=True)
