"""The rows of a cohort file as the pipeline sees them, whatever its format: chunk by chunk.

Each chunk is the temp table ``chunk_raw``, one VARCHAR column per header, named positionally
``c1 .. cN`` (header names can be anything a user typed; positional names keep the SQL simple
and safe), in file order, and the view ``chunk_rows`` over it adding a 1-based ``row_number``
(the data-row number in the file). Every cell is text. A large CSV is streamed from the file
(:class:`cohortflow.ingest.csv_files.CsvRows`); a small CSV and a workbook's sheet are first
loaded into the table ``raw_table`` (:class:`TableRows`). The table
``raw_extras(row_number, extras)`` lists the rows that have more fields than the header with a
non-blank one among them, with every surplus field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import duckdb
import pyarrow as pa

from cohortflow.errors import CohortError
from cohortflow.masking import mask_phones_in


def is_blank(value: str | None) -> bool:
    """Whether ``value`` is None, empty or only whitespace as ``str.isspace`` counts it (the
    SQL checks use the same set: ``blank`` in sql/ingest/_text.sql)."""
    return value is None or not value.strip()


def trim_headers(headers: list[str]) -> list[str]:
    """Header names as the mapping matches them: without surrounding whitespace."""
    return [header.strip() for header in headers]


#: More columns than this is a blocking error: a cohort needs a handful of columns, and very
#: wide files make the CSV reader's buffers grow past the memory limit.
MAX_COLUMNS = 2000


class ReadAgainError(Exception):
    """A file streamed in one pass met a problem its parser could not read past after rows
    were already handed on: process it again, its rows counted and its parser chosen first
    (``read_cohort_file(..., counted=True)``), which reads it or says what is wrong."""


class RowSource(Protocol):
    """Where a cohort's data rows come from, one chunk at a time."""

    rows_read: int  # the rows of the chunks handed on so far

    def chunks(self, conn: duckdb.DuckDBPyConnection, size: int) -> Iterator[int]:
        """Create ``chunk_raw`` and ``chunk_rows`` (see the module) for each chunk of up to
        ``size`` rows in turn, yielding the row number of its first row; a chunk's tables are
        replaced by the next one's."""
        ...


@dataclass(frozen=True)
class RawCohort:
    """A cohort file opened for reading: its headers, how many data rows it has, and where
    they come from."""

    headers: list[str]  # trimmed: what a mapping's column_name is matched against
    row_count: int | None  # None: counted as they are read (a CSV streamed in one pass)
    source_format: str  # "csv" | "xlsx" | "xls" | "ods"
    rows: RowSource = field(default_factory=lambda: TableRows())  # default: in raw_table
    delimiter: str | None = None
    source_headers: list[str] = field(default_factory=list)  # as written in the file
    sheet: str | None = None  # the worksheet read, for workbooks

    def __post_init__(self) -> None:
        if not self.source_headers:
            object.__setattr__(self, "source_headers", list(self.headers))

    @property
    def columns(self) -> list[str]:
        """Positional column names in ``chunk_raw``, in header order."""
        return [f"c{i}" for i in range(1, len(self.headers) + 1)]

    def column_for(self, header: str) -> str:
        """The positional column holding ``header``."""
        return f"c{self.headers.index(header) + 1}"


def numbered_rows_sql(table: str, first: int = 1) -> str:
    """The rows of ``table`` with their 1-based row number in the file, its first row being
    row ``first``. A table's rowids are dense, 0 .. n-1, as long as nothing deletes from it."""
    return f"select rowid + {first:d} as row_number, * from {table}"


def expose_chunk(conn: duckdb.DuckDBPyConnection, first: int) -> None:
    """Create the view ``chunk_rows`` over ``chunk_raw``, whose first row is row ``first``."""
    conn.execute("create or replace temp view chunk_rows as "
                 + numbered_rows_sql("chunk_raw", first))


def count_rows(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    """How many rows ``table`` holds."""
    # fetchall, not fetchone: a half-consumed result would block the connection's next query.
    result = conn.execute(f"select count(*) from {table}").fetchall()[0]
    return int(result[0]) if result else 0


class TableRows:
    """Rows loaded whole into ``raw_table`` first (a workbook's sheet, a small CSV), cut into
    chunks by rowid: DuckDB then reads only the row groups of each chunk
    (docs/decisions/002-chunks-by-row-id.md). Rows that fit one chunk become ``chunk_raw``
    as they are, without a copy."""

    def __init__(self) -> None:
        self.rows_read = 0

    def chunks(self, conn: duckdb.DuckDBPyConnection, size: int) -> Iterator[int]:
        count = count_rows(conn, "raw_table")
        self.rows_read = 0
        if 0 < count <= size:
            conn.execute("drop table if exists chunk_raw")
            conn.execute("alter table raw_table rename to chunk_raw")
            expose_chunk(conn, 1)
            self.rows_read = count
            yield 1
            return
        for first in range(1, count + 1, size):
            conn.execute("create or replace temp table chunk_raw as select * from raw_table "
                         f"where rowid between {first - 1:d} and {first + size - 2:d}")
            expose_chunk(conn, first)
            self.rows_read += min(size, count - first + 1)
            yield first
        conn.execute("drop table if exists raw_table")


def create_extras(
    conn: duckdb.DuckDBPyConnection, extras: list[tuple[int, list[str]]]
) -> None:
    """Create ``raw_extras(row_number, extras)`` from (row number, surplus fields) pairs."""
    conn.register("_raw_extras", pa.table({
        "row_number": pa.array([number for number, _ in extras], pa.int64()),
        "extras": pa.array([values for _, values in extras], pa.list_(pa.string())),
    }))
    conn.execute("create or replace temp table raw_extras as select * from _raw_extras")
    conn.unregister("_raw_extras")


def check_headers(file_name: str, headers: list[str]) -> None:
    """Blocking: empty or duplicate header names (names each offender and its position)."""
    if not headers or all(not h for h in headers):
        raise CohortError(f"{file_name}: the file has no header row", code="no_data")
    if len(headers) > MAX_COLUMNS:
        raise CohortError(
            f"{file_name}: the file has {len(headers):,} columns, more than the {MAX_COLUMNS:,} "
            "cohortflow reads; keep the columns the campaign uses and drop it again",
            code="too_many_columns",
        )
    empty = [str(i) for i, h in enumerate(headers, start=1) if not h]
    if empty:
        raise CohortError(
            f"{file_name}: empty header name in column(s) {', '.join(empty)}; "
            "give every column a name",
            code="bad_header",
        )
    seen: dict[str, int] = {}
    duplicates = []
    for position, header in enumerate(headers, start=1):
        if header in seen:
            duplicates.append(
                f"{mask_phones_in(header)!r} (columns {seen[header]} and {position})")
        seen.setdefault(header, position)
    if duplicates:
        raise CohortError(
            f"{file_name}: duplicate header name(s) {', '.join(duplicates)}; "
            "rename them so each column is unique",
            code="bad_header",
        )

