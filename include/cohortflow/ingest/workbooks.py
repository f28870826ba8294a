"""Reading an Excel or ODS workbook's first visible sheet into the raw table.

Cells are decoded by calamine; every cell becomes the text the user sees (whole numbers as
their digits, dates as ISO). Hidden sheets and chart sheets are passed over: the sheet read is
the first one a person opening the file sees, and its name is recorded. Zip-based workbooks are
checked against ``COHORTFLOW_MAX_WORKBOOK_BYTES`` before they are opened, so a zip bomb is
refused. Rows go to DuckDB in batches of about :data:`BATCH_CELLS` cells, so no copy of the
whole sheet is made in Python.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from cohortflow.errors import CohortError
from cohortflow.ingest.raw import (
    RawCohort,
    TableRows,
    check_headers,
    count_rows,
    create_extras,
    is_blank,
    trim_headers,
)

#: Cells per batch handed to DuckDB: tens of MiB of Python strings, whatever the width.
BATCH_CELLS = 1_000_000


def read_workbook(
    conn: duckdb.DuckDBPyConnection, path: Path, *, max_workbook_bytes: int
) -> RawCohort:
    """Load the first visible sheet of the workbook at ``path`` into the raw table; blocking
    problems raise CohortError."""
    from python_calamine import CalamineWorkbook

    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("xlsx", "xlsm", "ods"):
        _check_zip(path, max_workbook_bytes)
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        name = first_visible_sheet(path.name, workbook.sheets_metadata)
        sheet = workbook.get_sheet_by_name(name)
        # iter_rows starts at the sheet's first used column: pad to column A, as people count
        indent = [""] * (sheet.start[1] if sheet.start else 0)
        rows = _without_trailing_empty(indent + row for row in sheet.iter_rows())
        header_row = next(rows, None)
    except CohortError:
        raise
    except Exception as exc:  # calamine raises several error types for corrupt files
        raise CohortError(
            f"{path.name}: the workbook cannot be read ({type(exc).__name__}: "
            f"{str(exc)[:200]}); check it opens in a spreadsheet and save it again",
            code="unreadable_file",
        ) from None
    if header_row is None:
        raise CohortError(f"{path.name}: the sheet {name!r} is empty", code="no_data")
    source_headers = [cell_text(v) or "" for v in header_row]
    while source_headers and is_blank(source_headers[-1]):
        source_headers.pop()  # trailing blank header cells are formatting, not columns
    headers = trim_headers(source_headers)
    check_headers(path.name, headers)
    extras = _load_rows(conn, rows, len(headers))
    create_extras(conn, extras)
    return RawCohort(headers=headers, row_count=count_rows(conn, "raw_table"),
                     source_format=suffix, rows=TableRows(), source_headers=source_headers,
                     sheet=name)


def first_visible_sheet(file_name: str, sheets: Iterable[Any]) -> str:
    """The name of the first visible worksheet (not hidden, not a chart or macro sheet)."""
    from python_calamine import SheetTypeEnum, SheetVisibleEnum

    names = []
    for sheet in sheets:
        names.append(sheet.name)
        if sheet.visible == SheetVisibleEnum.Visible and sheet.typ == SheetTypeEnum.WorkSheet:
            return str(sheet.name)
    raise CohortError(
        f"{file_name}: the workbook has no visible worksheet"
        + (f" (hidden: {', '.join(map(repr, names))})" if names else "")
        + "; unhide the sheet to read and save the workbook again",
        code="no_data",
    )


def _load_rows(
    conn: duckdb.DuckDBPyConnection, rows: Iterator[list[Any]], width: int
) -> list[tuple[int, list[str]]]:
    """Append the data rows to ``raw_table`` (``c1 .. c<width>``) batch by batch; return the
    rows holding a non-blank value beyond the header's width, with every such value."""
    batch_rows = max(1, BATCH_CELLS // max(width, 1))
    extras: list[tuple[int, list[str]]] = []
    created = False
    number = 0
    while True:
        columns: list[list[str | None]] = [[] for _ in range(width)]
        for row in rows:
            number += 1
            texts = [cell_text(v) for v in row]
            for i in range(width):
                columns[i].append(texts[i] if i < len(texts) else None)
            surplus = [text or "" for text in texts[width:]]
            if any(not is_blank(text) for text in surplus):
                extras.append((number, surplus))
            if len(columns[0]) >= batch_rows:
                break
        if created and not columns[0]:
            return extras
        table = pa.table({f"c{i + 1}": pa.array(values, type=pa.string())
                          for i, values in enumerate(columns)})
        conn.register("_workbook_rows", table)
        conn.execute("insert into raw_table select * from _workbook_rows" if created else
                     "create or replace temp table raw_table as select * from _workbook_rows")
        conn.unregister("_workbook_rows")
        created = True
        if len(columns[0]) < batch_rows:
            return extras


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


def _without_trailing_empty(rows: Iterable[list[Any]]) -> Iterator[list[Any]]:
    """``rows`` without the empty rows at the end (formatting, not data); empty rows between
    data rows are kept, as data rows."""
    pending: list[list[Any]] = []
    for row in rows:
        if all(cell_text(v) is None for v in row):
            pending.append(row)
            continue
        yield from pending
        pending.clear()
        yield row


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
