"""The raw table every cohort file is read into, whatever its format.

The table ``raw_table`` (exposed as the view ``raw_rows``) holds one VARCHAR column per header,
named positionally ``c1 .. cN`` (header names can be anything a user typed; positional names
keep the SQL simple and safe), and a 1-based ``row_number`` (the data-row number in the file).
Every cell is text. The table ``raw_extras(row_number, extras)`` lists the rows that have
more fields than the header with a non-blank one among them, with every surplus field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class RawCohort:
    """A cohort file loaded into ``raw_rows``: its headers and how many data rows it has."""

    headers: list[str]  # trimmed: what a mapping's column_name is matched against
    row_count: int
    source_format: str  # "csv" | "xlsx" | "xls" | "ods"
    delimiter: str | None = None
    source_headers: list[str] = field(default_factory=list)  # as written in the file
    sheet: str | None = None  # the worksheet read, for workbooks

    def __post_init__(self) -> None:
        if not self.source_headers:
            object.__setattr__(self, "source_headers", list(self.headers))

    @property
    def columns(self) -> list[str]:
        """Positional column names in ``raw_rows``, in header order."""
        return [f"c{i}" for i in range(1, len(self.headers) + 1)]

    def column_for(self, header: str) -> str:
        """The positional column holding ``header``."""
        return f"c{self.headers.index(header) + 1}"



#: ``raw_table``'s rows with their 1-based ``row_number``: the view ``raw_rows``, and each chunk.
NUMBERED_ROWS_SQL = "select rowid + 1 as row_number, * from raw_table"


def number_rows(conn: duckdb.DuckDBPyConnection) -> int:
    """Expose ``raw_table`` as ``raw_rows`` with a 1-based ``row_number``; return the count."""
    conn.execute(f"create or replace temp view raw_rows as {NUMBERED_ROWS_SQL}")
    # fetchall, not fetchone: a half-consumed result would block the connection's next query.
    result = conn.execute("select count(*) from raw_table").fetchall()[0]
    return int(result[0]) if result else 0


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


def rows_between_sql(first: int, last: int, row_count: int) -> str:
    """A query of the data rows ``first`` to ``last`` (1-based, inclusive) of ``raw_rows``,
    which holds ``row_count`` rows.

    Every row: no filter, so DuckDB knows the exact row count when it plans the joins. A
    chunk: a filter on ``raw_table``'s own rowid, so DuckDB reads only the row groups holding
    those rows. Rowids stay dense only while no row of ``raw_table`` is deleted, so nothing
    deletes from it (docs/decisions/002-chunks-by-row-id.md)."""
    if first <= 1 and last >= row_count:
        return NUMBERED_ROWS_SQL
    return f"{NUMBERED_ROWS_SQL} where rowid between {first - 1:d} and {last - 1:d}"


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

