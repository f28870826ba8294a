"""Open a cohort file (CSV, XLSX, XLS, ODS) for reading.

Whatever the format, the result is a :class:`~cohortflow.ingest.raw.RawCohort` whose rows come
chunk by chunk as DuckDB tables of strings (:mod:`cohortflow.ingest.raw`).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from cohortflow.errors import CohortError
from cohortflow.ingest.csv_files import read_csv_file
from cohortflow.ingest.raw import RawCohort
from cohortflow.ingest.workbooks import read_workbook

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
SUPPORTED_SUFFIXES = CSV_SUFFIXES + EXCEL_SUFFIXES


def read_cohort_file(
    conn: duckdb.DuckDBPyConnection, path: Path, *, max_workbook_bytes: int = 1536 * 1024**2,
    counted: bool = False,
) -> RawCohort:
    """Open ``path`` for reading through ``conn``; blocking problems raise CohortError.

    Blocking: unsupported type, undecodable or corrupt file, no header, duplicate or empty header
    names, an unclosed quote (CSV). An empty data section is reported by the caller. A large
    CSV's problems may be met only as its rows are read (see
    :func:`~cohortflow.ingest.csv_files.read_csv_file`, and ``counted``).
    """
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return read_csv_file(conn, path, counted=counted)
    if suffix in EXCEL_SUFFIXES:
        return read_workbook(conn, path, max_workbook_bytes=max_workbook_bytes)
    raise CohortError(
        f"{path.name}: unsupported file type {suffix or '(none)'!r}; "
        f"use one of {', '.join(SUPPORTED_SUFFIXES)}",
        code="unreadable_file",
    )
