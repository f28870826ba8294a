"""The benchmark's pandas baseline checks cohortflow's contracts with pandera's pandas backend:
the same column rules give the same verdicts as the pipeline's pyarrow backend."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from benchmarks.baseline import pandas_schema

from cohortflow.ingest import contracts
from tests.unit.ingest.test_contracts import CASES, arrow_table, failed_checks


@pytest.mark.parametrize(("contract", "columns", "failed"), CASES)
def test_both_backends_enforce_the_same_rules(
    contract: str, columns: dict[str, list[Any]], failed: set[str]
) -> None:
    frame = pd.DataFrame({name: pd.Series(values, dtype="int64" if name == "row_number"
                                          else "str") for name, values in columns.items()})
    assert failed_checks(pandas_schema(contract), frame) == failed
    assert failed_checks(contracts.arrow_schema(contract), arrow_table(columns)) == failed
