"""The output contracts: written once and enforced alike by pandera's pyarrow backend (the
pipeline) and its pandas backend (the baseline); loaded without hypothesis (a development
dependency pandera would import for its data-synthesis strategies), which stays usable; and a
cohort command that never imports pandas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.errors
import pyarrow as pa
import pytest

from cohortflow import contracts
from tests.unit.helpers import python_process, write_text


def test_the_contracts_load_pandera_without_hypothesis_and_leave_it_importable() -> None:
    code = (
        "import sys\n"
        "import cohortflow.contracts as contracts\n"
        "contracts.warm_up()\n"
        "print('hypothesis' in sys.modules)\n"
        "import hypothesis\n"
        "print(hypothesis.__name__)\n"
    )
    result = python_process(code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "hypothesis"]


def test_the_contracts_leave_an_imported_hypothesis_alone() -> None:
    code = (
        "import hypothesis\n"
        "import cohortflow.contracts\n"
        "from pandera.strategies import base_strategies\n"
        "print(base_strategies.HAS_HYPOTHESIS)\n"
    )
    result = python_process(code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


# --------------------------------------------------------------- one contract, two backends

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


def _failed_checks(contract: str, columns: dict[str, list[Any]], backend: str) -> set[str]:
    """The checks (pandera's names) that ``columns`` fails, by one backend: empty when valid."""
    if backend == "arrow":
        table: Any = pa.table({
            name: pa.array(values, pa.int64() if name == "row_number" else pa.string())
            for name, values in columns.items()})
        schema: Any = contracts.arrow_schema(contract)
    else:
        table = pd.DataFrame({name: pd.Series(values, dtype="int64" if name == "row_number"
                                              else "str") for name, values in columns.items()})
        schema = contracts.pandas_schema(contract)
    try:
        schema.validate(table, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        checks = exc.failure_cases["check"]  # an Arrow or a pandas column
        return {str(check).split("(")[0]
                for check in (checks.to_pylist() if backend == "arrow" else checks)}
    return set()


@pytest.mark.parametrize(("contract", "columns", "failed"), [
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
])
@pytest.mark.parametrize("backend", ["arrow", "pandas"])
def test_both_backends_enforce_the_same_rules(
    contract: str, columns: dict[str, list[Any]], failed: set[str], backend: str
) -> None:
    assert _failed_checks(contract, columns, backend) == failed


def test_a_wrong_column_type_breaks_the_arrow_contract() -> None:
    table = pa.table({**GOOD_RECIPIENTS, "row_number": pa.array([1, 2, 5], pa.int32())})
    with pytest.raises(pandera.errors.SchemaErrors, match="row_number"):
        contracts.arrow_schema("Recipients").validate(table, lazy=True)


# ------------------------------------------------------------------ a command without pandas

COHORT = "phone,name\n+919876543210,Asha\n+14155550123,Ravi\nnot a phone,Meena\n"


def test_the_console_command_processes_a_cohort_without_importing_pandas(tmp_path: Path) -> None:
    source = write_text(tmp_path, "cohort.csv", COHORT)
    code = ("import sys; from cohortflow.cli import run; "
            f"sys.argv = ['cohortflow', 'process', {str(source)!r}, '--out', "
            f"{str(tmp_path / 'out')!r}]; run()")
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                            capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "pandera.pyarrow" in imported and "duckdb" in imported  # (the check can see imports)
    # importtime lists a failed attempt too (pandera and pyarrow try `import pandas`): pandas'
    # own modules are listed only if it really loads
    assert not {name for name in imported if name.startswith("pandas.")}
    assert "status=completed" in result.stdout
    assert (tmp_path / "out" / "recipients.parquet").is_file()


def test_without_pandas_a_later_import_of_pandas_fails_as_if_not_installed(
    tmp_path: Path,
) -> None:
    source = write_text(tmp_path, "cohort.csv", COHORT)
    code = (
        "from pathlib import Path\n"
        "from cohortflow import without_pandas\n"
        "from cohortflow.commands.ingest import _run_process\n"
        "without_pandas.allow()  # as the console entry does\n"
        f"summary = _run_process(Path({str(source)!r}), None, None, None, None, "
        f"Path({str(tmp_path / 'out')!r}))\n"
        "print(summary.status, summary.valid_records, summary.rejected_records)\n"
        "try:\n"
        "    import pandas\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc)\n"
    )
    result = python_process(code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["completed 2 1", "No module named 'pandas'"]


@pytest.mark.parametrize("prelude", [
    # a library caller, or a test calling the click group: the console entry never allowed it
    "from cohortflow import without_pandas\n"
    "print(without_pandas.enter())\n"
    "import cohortflow.contracts as contracts\n"
    "contracts.warm_up()\n"
    "import pandas\n",
    # the console entry allowed it, but pandas was imported before: left alone
    "import pandas\n"
    "from cohortflow import without_pandas\n"
    "without_pandas.allow()\n"
    "print(without_pandas.enter())\n"
    "import pandas.api.types\n",
], ids=["library caller", "pandas imported before"])
def test_pandas_stays_usable_where_the_console_did_not_hide_it_first(prelude: str) -> None:
    result = python_process(prelude + "print(pandas.DataFrame({'a': [1]}).shape)\n")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "(1,", "1)"]
