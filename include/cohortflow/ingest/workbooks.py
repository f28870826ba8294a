"""Reading an Excel or ODS workbook's first sheet into the raw table.

Cells are decoded by calamine; every cell becomes the text the user sees (whole numbers as
their digits, dates as ISO). Zip-based workbooks are checked against
``COHORTFLOW_MAX_WORKBOOK_BYTES`` before they are opened, so a zip bomb is refused.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from cohortflow.errors import CohortError
from cohortflow.ingest.raw import OVERFLOW_COLUMN, RawCohort, check_headers, number_rows


def read_workbook(
    conn: duckdb.DuckDBPyConnection, path: Path, *, max_workbook_bytes: int
) -> RawCohort:
    """Load the first sheet of the workbook at ``path`` into the raw table; blocking problems
    raise CohortError."""
    from python_calamine import CalamineWorkbook

    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("xlsx", "xlsm", "ods"):
        _check_zip(path, max_workbook_bytes)
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        if not workbook.sheet_names:
            raise CohortError(f"{path.name}: the workbook has no sheets", code="no_data")
        rows = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except CohortError:
        raise
    except Exception as exc:  # calamine raises several error types for corrupt files
        raise CohortError(
            f"{path.name}: the workbook cannot be read ({type(exc).__name__}: "
            f"{str(exc)[:200]}); check it opens in a spreadsheet and save it again",
            code="unreadable_file",
        ) from None
    rows = _drop_trailing_empty(rows)
    if not rows:
        raise CohortError(f"{path.name}: the first sheet is empty", code="no_data")
    headers = [cell_text(v) or "" for v in rows[0]]
    while headers and not headers[-1]:
        headers.pop()  # trailing blank header cells are formatting, not columns
    headers = [h.strip() for h in headers]
    check_headers(path.name, headers)
    width = len(headers)
    columns: dict[str, list[str | None]] = {f"c{i}": [] for i in range(1, width + 1)}
    overflow: list[str | None] = []
    for row in rows[1:]:
        texts = [cell_text(v) for v in row]
        for i in range(width):
            columns[f"c{i + 1}"].append(texts[i] if i < len(texts) else None)
        extra = [t for t in texts[width:] if t]
        overflow.append(extra[0] if extra else None)
    table = pa.table(
        {
            **{name: pa.array(values, type=pa.string()) for name, values in columns.items()},
            OVERFLOW_COLUMN: pa.array(overflow, type=pa.string()),
        }
    )
    conn.register("_workbook_rows", table)
    conn.execute("create or replace temp table raw_table as select * from _workbook_rows")
    conn.unregister("_workbook_rows")
    return RawCohort(headers=headers, row_count=number_rows(conn), source_format=suffix)


def _check_zip(path: Path, limit: int) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        raise CohortError(
            f"{path.name}: not a valid {path.suffix} workbook (the file is not a zip archive; "
            "was another file renamed?)",
            code="unreadable_file",
        ) from None
    if expanded > limit:
        raise CohortError(
            f"{path.name}: the workbook expands to {expanded / 1024**2:,.0f} MiB, more than the "
            f"configured limit of {limit / 1024**2:,.0f} MiB (COHORTFLOW_MAX_WORKBOOK_BYTES); "
            "split it or export it as CSV",
            code="unreadable_file",
        )


def _drop_trailing_empty(rows: list[list[Any]]) -> list[list[Any]]:
    end = len(rows)
    while end and all(cell_text(v) is None for v in rows[end - 1]):
        end -= 1
    return rows[:end]


def cell_text(value: object) -> str | None:
    """A spreadsheet cell as the text the user sees: whole numbers as digits, dates as ISO."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e17:
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    text = str(value)
    return text if text != "" else None
