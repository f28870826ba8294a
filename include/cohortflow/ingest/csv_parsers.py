"""How DuckDB parses a CSV: the parser chosen by reading the file once (strict or lenient,
long lines, parallel or not), its rows counted on the way, and what the lenient parser's
reading must be checked against (Python's csv module) before its rows are trusted.
"""

from __future__ import annotations

import csv
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pyarrow as pa

from cohortflow.errors import CohortError
from cohortflow.ingest.raw import count_rows, create_extras, is_blank, numbered_rows_sql


def choose_and_count(
    conn: duckdb.DuckDBPyConnection, path: Path, *, width: int, delimiter: str, skip: int,
    load: bool, quotes_checked: bool = False,
) -> tuple[str | None, int, dict[int, str]]:
    """Read the CSV once to choose its parser and count its rows (loading them into
    ``raw_table`` when ``load``), and create ``raw_extras``. Returns the query that streams
    the rows (None when loaded), the row count and, for a file read by the lenient parser, the
    last field within the header of each row with surplus fields
    (:class:`~cohortflow.ingest.csv_files.CsvRows`). ``quotes_checked``: the caller has
    already counted the file's quotes (:func:`check_balanced_quotes`), so they are not again."""
    # The quotes are counted in a thread while DuckDB reads the file (one pass each, at once);
    # an unclosed quote is the error to tell, also when it made DuckDB's reading fail.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cohortflow-quotes") as counting:
        quotes = counting.submit(lambda: None if quotes_checked
                                 else check_balanced_quotes(path, delimiter))
        try:
            query, row_count, lenient = choose_parser(
                conn, path, column_count=width, delimiter=delimiter, skip=skip, load=load)
        except BaseException:
            quotes.result()
            raise
        quotes.result()
    boundary: dict[int, str] = {}
    if lenient:
        extras = _surplus_fields(path, delimiter=delimiter, skip=skip, width=width,
                                 row_count=row_count)
        boundary = {number: last for number, last, _ in extras}
        if load and (mismatch := first_mismatch(
                conn, boundary, f"({numbered_rows_sql('raw_table')})", 1, row_count,
                width=width)):
            raise two_readings(path, f"row {mismatch}")
        create_extras(conn, [(number, surplus) for number, _, surplus in extras])
    else:
        create_extras(conn, [])
    return (None if load else query), row_count, boundary


#: The longest line a CSV may have (a 10 MB cell is in the bad-input corpus). DuckDB's default
#: (2 MB) is tried first: its read buffers are sized from this limit.
LONG_LINE_BYTES = 64_000_000
LINE_TOO_LONG = "maximum line size"  # in DuckDB's error for a line over max_line_size
#: Bytes read per call while counting a file's quotes (into one buffer, reused).
QUOTE_BUFFER_BYTES = 1024 * 1024


def choose_parser(
    conn: duckdb.DuckDBPyConnection, path: Path, *, column_count: int, delimiter: str,
    skip: int = 1, load: bool = False,
) -> tuple[str, int, bool]:
    """The query that reads the CSV at ``path`` (``c1 .. cN``, all VARCHAR) after its first
    ``skip`` lines (the header, and a ``sep=`` line), how many data rows it reads, and whether
    it needs the lenient parser, found by reading the rows (into ``raw_table`` when ``load``,
    else only counting them): with DuckDB's strict parser, its
    default line size and its parallel reader first; again with room for lines up to
    :data:`LONG_LINE_BYTES` if a line is longer, without the parallel reader if that one cannot
    split the file, and with the lenient parser if the strict one refuses a row (one with more
    fields than the header, or a stray quote). The lenient parser drops surplus fields, which
    :func:`_surplus_fields` then finds."""
    options = {"path": str(path), "delim": delimiter, "quote": '"'}
    long_lines, parallel, strict = False, True, True
    while True:
        query = csv_sql(column_count, parallel=parallel, long_lines=long_lines, skip=skip,
                         strict=strict)
        try:
            if load:
                conn.execute(f"create or replace temp table raw_table as {query}", options)
                return query, count_rows(conn, "raw_table"), not strict
            (count,), = conn.execute(f"select count(*) from ({query})", options).fetchall()
            return query, int(count), not strict
        except duckdb.OutOfMemoryException:
            raise  # the machine's limit, not the file's fault: ingest says what to do
        except duckdb.Error as exc:
            message = str(exc).lower()
            if not long_lines and LINE_TOO_LONG in message:
                long_lines = True
            elif parallel and "parallel" in message:
                parallel = False
            elif strict:
                strict = False
            else:
                raise unreadable(path, exc) from None


def csv_sql(column_count: int, *, parallel: bool, long_lines: bool, skip: int,
             strict: bool) -> str:
    # The header line (and a sep= line) is skipped; rows come in file order, as the reader
    # preserves insertion order.
    line_size = f"max_line_size = {LONG_LINE_BYTES:d}, " if long_lines else ""
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(1, column_count + 1)) + "}"
    return f"""
        select *
        from read_csv($path, header = false, auto_detect = false, skip = {skip:d},
                      columns = {columns}, delim = $delim, quote = $quote, escape = $quote,
                      null_padding = true, strict_mode = {str(strict).lower()},
                      {line_size}parallel = {str(parallel).lower()})
    """


def _surplus_fields(
    path: Path, *, delimiter: str, skip: int, width: int, row_count: int,
) -> list[tuple[int, str, list[str]]]:
    """The data rows with a non-blank field beyond the header's ``width``, read by Python's csv
    module: each with its last field within the header and its surplus fields up to the last
    non-blank one.

    Both parsers must see the same rows: the same number of them (checked here), and the same
    last field within the header on each row listed (checked chunk by chunk, as DuckDB's rows
    are streamed: :meth:`CsvRows.chunks`). Otherwise (stray quotes read two ways) the row's
    values cannot be told apart, and the cohort fails rather than guess."""
    found: list[tuple[int, str, list[str]]] = []
    number = 0
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        records = csv.reader(handle, delimiter=delimiter)
        for _ in range(skip):
            next(records, None)
        for record in records:
            if not record:
                continue  # a blank line: DuckDB skips it too
            number += 1
            surplus = record[width:]
            while surplus and is_blank(surplus[-1]):
                surplus.pop()
            if surplus:
                found.append((number, record[width - 1], surplus))
    if number != row_count:
        raise two_readings(path, "a row")
    return found


def two_readings(path: Path, where: str) -> CohortError:
    return CohortError(
        f"{path.name}: {where} has more fields than the header, and its quotes can be read "
        "two ways, so its values cannot be told apart; put values holding the delimiter or "
        'a quote in double quotes (a quote inside as "") and drop the file again',
        code="unreadable_file",
    )


def first_mismatch(conn: duckdb.DuckDBPyConnection, boundary: dict[int, str], rows: str,
                    first: int, count: int, *, width: int) -> int:
    """The first row of ``rows`` (a relation with ``row_number``: rows ``first`` to
    ``first + count - 1``) listed in ``boundary`` whose field ``width`` DuckDB read otherwise,
    or 0."""
    numbers = [number for number in boundary if first <= number < first + count]
    if not numbers:
        return 0
    conn.register("_surplus_check", pa.table({
        "row_number": pa.array(numbers, pa.int64()),
        "value": pa.array([boundary[number] for number in numbers], pa.string()),
    }))
    try:
        result = conn.execute(
            f"select min(row_number) from _surplus_check join {rows} using (row_number) "
            f"where coalesce(c{width:d}, '') <> value").fetchall()
    finally:
        conn.unregister("_surplus_check")
    return int(result[0][0] or 0)


def check_balanced_quotes(path: Path, delimiter: str) -> None:
    """Blocking: a quoted field that is never closed would swallow the rows after it.

    Well-formed CSV has an even number of ``"`` (escaped quotes come in pairs), so an odd count
    proves a quote is unbalanced; the strict ``csv`` parser then finds the line where it starts.
    """
    quotes = 0
    buffer = bytearray(QUOTE_BUFFER_BYTES)  # reused: no new memory to fault in per read
    with path.open("rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            quotes += buffer.count(b'"', 0, size)
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


def unreadable(path: Path, error: Exception) -> CohortError:
    detail = str(error).splitlines()[0] if str(error) else type(error).__name__
    if LINE_TOO_LONG in str(error).lower():
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
