"""Read a cohort file (CSV, XLSX, XLS, ODS) into one DuckDB table of strings.

Whatever the format, the result is the table ``raw_rows`` with a 1-based ``row_number`` (the
data-row number in the file) and one VARCHAR column per header, named positionally ``c1 .. cN``
(header names can be anything a user typed; positional names keep the SQL simple and safe),
plus ``c_overflow`` holding the first surplus field of a CSV row that has more fields than the
header. Every cell is text: Excel numbers holding whole numbers come out as their digits.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from cohortflow.errors import CohortError

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
SUPPORTED_SUFFIXES = CSV_SUFFIXES + EXCEL_SUFFIXES
DELIMITERS = ",;\t|"
_SNIFF_BYTES = 256 * 1024
OVERFLOW_COLUMN = "c_overflow"
#: More columns than this is a blocking error: a cohort needs a handful of columns, and very
#: wide files make the CSV reader's buffers grow past the memory limit.
MAX_COLUMNS = 2000


@dataclass(frozen=True)
class RawCohort:
    """A cohort file loaded into ``raw_rows``: its headers and how many data rows it has."""

    headers: list[str]
    row_count: int
    source_format: str  # "csv" | "xlsx" | "xls" | "ods"
    delimiter: str | None = None

    @property
    def columns(self) -> list[str]:
        """Positional column names in ``raw_rows``, in header order."""
        return [f"c{i}" for i in range(1, len(self.headers) + 1)]

    def column_for(self, header: str) -> str:
        """The positional column holding ``header``."""
        return f"c{self.headers.index(header) + 1}"


def read_cohort(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    max_workbook_bytes: int = 200 * 1024**2,
    quote_count: Callable[[], int] | None = None,
) -> RawCohort:
    """Load ``path`` into the table ``raw_rows`` of ``conn``; blocking problems raise CohortError.

    Blocking: unsupported type, undecodable or corrupt file, no header, duplicate or empty header
    names, an unclosed quote (CSV). An empty data section is reported by the caller (the table
    is still created). ``quote_count``: how many ``"`` bytes a CSV file holds, counted by
    another pass over it (:class:`cohortflow.digest.FileDigest`), so that the file is not read
    once more before DuckDB reads it.
    """
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _read_csv(conn, path, quote_count=quote_count)
    if suffix in EXCEL_SUFFIXES:
        return _read_workbook(conn, path, max_workbook_bytes=max_workbook_bytes)
    raise CohortError(
        f"{path.name}: unsupported file type {suffix or '(none)'!r}; "
        f"use one of {', '.join(SUPPORTED_SUFFIXES)}",
        code="unreadable_file",
    )


# --------------------------------------------------------------------------- CSV


def _sniff_text(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head.strip():
        raise CohortError(
            f"{path.name}: the file is empty; it needs a header row and data rows", code="no_data"
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CohortError(
            f"{path.name}: the file is UTF-16 encoded; save it as UTF-8 (CSV UTF-8) and drop it "
            "again",
            code="unreadable_file",
        )
    if b"\x00" in head:
        raise CohortError(
            f"{path.name}: the file contains NUL bytes, so it is binary, not CSV text; "
            "export the data as CSV UTF-8 and drop it again",
            code="unreadable_file",
        )
    text = _decode_sample(head, truncated=len(head) == _SNIFF_BYTES)
    if text is None:
        raise CohortError(
            f"{path.name}: the file is not UTF-8 text (after removing any BOM); "
            "save it as CSV UTF-8 and drop it again",
            code="unreadable_file",
        )
    return text


def _decode_sample(head: bytes, *, truncated: bool) -> str | None:
    """The sample as text, or None when it is not UTF-8 (after removing any BOM).

    A truncated sample may end inside a multi-byte character: only then are up to 3 trailing
    bytes tolerated (and dropped). At the real end of the file every byte must decode.
    """
    for cut in range(4 if truncated else 1):
        try:
            return head[: len(head) - cut].decode("utf-8-sig")
        except UnicodeDecodeError:
            continue
    return None


def detect_delimiter(sample: str) -> str:
    """The delimiter among ``, ; TAB |`` that splits the header and first rows consistently."""
    lines = [line for line in sample.splitlines()[:50] if line.strip()]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = lines[0] if lines else ""
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _read_csv(
    conn: duckdb.DuckDBPyConnection, path: Path, *, quote_count: Callable[[], int] | None = None
) -> RawCohort:
    sample = _sniff_text(path)
    delimiter = detect_delimiter(sample)
    try:
        headers = next(csv.reader(io.StringIO(sample), delimiter=delimiter))
    except (StopIteration, csv.Error) as exc:
        raise CohortError(
            f"{path.name}: cannot read the header row ({exc})", code="unreadable_file"
        ) from None
    headers = [h.strip() for h in headers]
    check_headers(path.name, headers)
    if quote_count is None:
        check_balanced_quotes(path, delimiter)
        _load_csv(conn, path, column_count=len(headers), delimiter=delimiter)
    else:  # counted elsewhere: DuckDB need not wait, but an unclosed quote still fails the file
        try:
            _load_csv(conn, path, column_count=len(headers), delimiter=delimiter)
        except CohortError:
            check_balanced_quotes(path, delimiter, quotes=quote_count())
            raise
        check_balanced_quotes(path, delimiter, quotes=quote_count())
    row_count = _number_rows(conn)
    return RawCohort(headers=headers, row_count=row_count, source_format="csv", delimiter=delimiter)


#: The longest line a CSV may have (a 10 MB cell is in the bad-input corpus). DuckDB's default
#: (2 MB) is tried first: its buffers are sized from this limit, and with 64 MB ones a 54 MB,
#: 1M-row file is a single buffer, read in 0.24 s instead of 0.14 s.
LONG_LINE_BYTES = 64_000_000
_LINE_TOO_LONG = "maximum line size"  # in DuckDB's error for a line over max_line_size


def _load_csv(
    conn: duckdb.DuckDBPyConnection, path: Path, *, column_count: int, delimiter: str
) -> None:
    """Create ``raw_table`` (``c1 .. cN`` and :data:`OVERFLOW_COLUMN`, all VARCHAR) from the CSV
    at ``path``: with DuckDB's default line size and its parallel reader first; again with room
    for lines up to :data:`LONG_LINE_BYTES` if a line is longer, and without the parallel reader
    if that one cannot split the file."""
    options = {"path": str(path), "delim": delimiter, "quote": '"'}
    long_lines, parallel = False, True
    while True:
        try:
            conn.execute(_csv_sql(column_count, parallel=parallel, long_lines=long_lines),
                         options)
            return
        except duckdb.OutOfMemoryException:
            raise  # the machine's limit, not the file's fault: ingest says what to do
        except duckdb.Error as exc:
            message = str(exc).lower()
            if not long_lines and _LINE_TOO_LONG in message:
                long_lines = True
            elif parallel and "parallel" in message:
                parallel = False
            else:
                raise _unreadable(path, exc) from None


def _csv_sql(column_count: int, *, parallel: bool, long_lines: bool) -> str:
    # The header line is skipped; the table's rowid (insertion order) numbers the data rows.
    # The columns are written into the SQL, not passed as a dict parameter: DuckDB converts a
    # dict by checking it against pandas types, so it would wait for the preload thread to finish
    # importing pandas (0.25 s at best, 1 s without compiled bytecode) before reading the file.
    # A temp table: in the on-disk database of a large cohort, a persistent one would be
    # compressed and checkpointed into the file (10M rows: 6.4 s against 2.3 s); temp blocks
    # are only spilled to the scratch folder when memory runs short.
    line_size = f"max_line_size = {LONG_LINE_BYTES:d}, " if long_lines else ""
    names = [f"c{i}" for i in range(1, column_count + 1)] + [OVERFLOW_COLUMN]
    columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in names) + "}"
    return f"""
        create or replace temp table raw_table as
        select *
        from read_csv($path, header = false, auto_detect = false, skip = 1,
                      columns = {columns}, delim = $delim, quote = $quote, escape = $quote,
                      null_padding = true, strict_mode = false,
                      {line_size}parallel = {str(parallel).lower()})
    """


def check_balanced_quotes(path: Path, delimiter: str, *, quotes: int | None = None) -> None:
    """Blocking: a quoted field that is never closed would swallow the rows after it.

    Well-formed CSV has an even number of ``"`` (escaped quotes come in pairs), so an odd count
    proves a quote is unbalanced; the strict ``csv`` parser then finds the line where it starts.
    ``quotes``: the file's count of ``"`` bytes, when already known (else the file is read).
    """
    if quotes is None:
        quotes = 0
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(4 * 1024 * 1024), b""):
                quotes += chunk.count(b'"')
    if quotes % 2 == 0:
        return
    line = _unclosed_quote_line(path, delimiter)
    where = f" (the quoted field starting on line {line})" if line else ""
    raise CohortError(
        f"{path.name}: a double quote is never closed{where}, so the rows after it cannot be "
        'told apart; close the quote, or write a quote inside a value as "" and drop it again',
        code="unbalanced_quotes",
    )


def _unclosed_quote_line(path: Path, delimiter: str) -> int | None:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        start = 1
        try:
            for _ in reader:
                start = reader.line_num + 1
        except csv.Error:
            return start
    return None


def _unreadable(path: Path, error: duckdb.Error) -> CohortError:
    detail = str(error).splitlines()[0] if str(error) else type(error).__name__
    if _LINE_TOO_LONG in str(error).lower():
        line = re.search(r"Line: (\d+)", str(error))
        return CohortError(
            f"{path.name}: line {line.group(1) if line else '?'} is longer than the "
            f"{LONG_LINE_BYTES // 1_000_000} MB a CSV line may have; shorten or split that "
            "value and drop the file again",
            code="unreadable_file",
        )
    # DuckDB puts the encoding problem after the first line ("CSV Error on Line: N").
    if "invalid unicode" in str(error).lower() or "utf" in detail.lower():
        return CohortError(
            f"{path.name}: the file is not valid UTF-8 text; save it as CSV UTF-8 and drop it "
            "again",
            code="unreadable_file",
        )
    return CohortError(
        f"{path.name}: the file cannot be read as CSV: {detail}", code="unreadable_file"
    )


#: ``raw_table``'s rows with their 1-based ``row_number``: the view ``raw_rows``, and each chunk.
_NUMBERED_ROWS_SQL = "select rowid + 1 as row_number, * from raw_table"


def _number_rows(conn: duckdb.DuckDBPyConnection) -> int:
    """Expose ``raw_table`` as ``raw_rows`` with a 1-based ``row_number``; return the count."""
    conn.execute(f"create or replace temp view raw_rows as {_NUMBERED_ROWS_SQL}")
    # fetchall, not fetchone: a half-consumed result would block the connection's next query.
    result = conn.execute("select count(*) from raw_table").fetchall()[0]
    return int(result[0]) if result else 0


def rows_between_sql(first: int, last: int, row_count: int) -> str:
    """A query of the data rows ``first`` to ``last`` (1-based, inclusive) of ``raw_rows``,
    which holds ``row_count`` rows.

    When that is every row, there is no filter: DuckDB then knows how many rows the query
    gives (it guesses a fifth of the table for a filter) and joins them with smaller tables the
    right way round (1M rows: checks and dedupe 0.82 -> 0.70 s). Otherwise it filters on
    ``raw_table``'s rowid itself, not on ``row_number`` (``rowid + 1``): DuckDB then reads only
    the row groups holding those rows. At 10M rows, filtering on row_number scanned all 137 row
    groups for every chunk of 1.5M rows.

    This holds only while no row of ``raw_table`` is deleted: after a delete, DuckDB (2.0) may
    vacuum the table's row groups and number the rows after them again. Deleting each chunk's
    rows once done, to free their memory at 10M rows, moved the first remaining rowid from
    3,000,000 to 2,937,702 after the second chunk, and later chunks came back short
    (1,437,702 rows instead of 1,500,000)."""
    if first <= 1 and last >= row_count:
        return _NUMBERED_ROWS_SQL
    return f"{_NUMBERED_ROWS_SQL} where rowid between {first - 1:d} and {last - 1:d}"


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
            duplicates.append(f"{header!r} (columns {seen[header]} and {position})")
        seen.setdefault(header, position)
    if duplicates:
        raise CohortError(
            f"{file_name}: duplicate header name(s) {', '.join(duplicates)}; "
            "rename them so each column is unique",
            code="bad_header",
        )


# --------------------------------------------------------------------------- Excel


def _read_workbook(
    conn: duckdb.DuckDBPyConnection, path: Path, *, max_workbook_bytes: int
) -> RawCohort:
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
    # Imported here: CSV files need no pyarrow, and cohortflow.prefetch reads them while the
    # command is still importing the rest of the pipeline (pyarrow included).
    import pyarrow as pa

    table = pa.table(
        {
            **{name: pa.array(values, type=pa.string()) for name, values in columns.items()},
            OVERFLOW_COLUMN: pa.array(overflow, type=pa.string()),
        }
    )
    conn.register("_workbook_rows", table)
    conn.execute("create or replace temp table raw_table as select * from _workbook_rows")
    conn.unregister("_workbook_rows")
    return RawCohort(headers=headers, row_count=_number_rows(conn), source_format=suffix)


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
