"""Reading a CSV cohort file, chunk by chunk (see :mod:`cohortflow.ingest.raw`).

The delimiter (``, ; TAB |``) is detected from a sample, unless the file starts with Excel's
``sep=X`` line, which names it (and is not the header); the header is read by Python's csv
module, the rows by DuckDB's CSV reader with every column as text. A file of up to
:data:`ONE_PASS_BYTES` is read whole in one pass (the pass that chooses how to parse it); a
larger one is streamed, one chunk at a time, so it is never held whole: in one pass with
DuckDB's strict, parallel parser, or, when that parser refuses the file, read once to count its
rows and choose how to parse them, then streamed (:class:`CsvRows`). Lines may end in CRLF, LF or
CR alone (old Mac and some ERP exports). UTF-8 only (with or without BOM): UTF-16 and other
encodings are reported, never guessed at.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from cohortflow.errors import CohortError
from cohortflow.ingest.raw import (
    RawCohort,
    ReadAgainError,
    TableRows,
    check_headers,
    count_rows,
    create_extras,
    expose_chunk,
    is_blank,
    numbered_rows_sql,
    trim_headers,
)

DELIMITERS = ",;\t|"
SNIFF_BYTES = 256 * 1024
#: A CSV of at most this many bytes is loaded whole into ``raw_table`` by the pass that
#: chooses its parser (DuckDB's table of it takes about 1.5 times the file's size), then cut
#: into chunks there; a larger one is counted by that pass, then streamed.
ONE_PASS_BYTES = 64 * 1024 * 1024


def _sniff_text(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
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
    text = _decode_sample(head, truncated=len(head) == SNIFF_BYTES)
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


#: Excel's first line naming the delimiter (``sep=;``): any one character but a quote or a
#: line break, then the end of the line.
SEP_LINE = re.compile(r"sep=([^\"\r\n])(?:\r\n|\r|\n)", re.IGNORECASE)


def read_csv_file(conn: duckdb.DuckDBPyConnection, path: Path, *,
                  counted: bool = False) -> RawCohort:
    """Open the CSV at ``path``: its header, and its rows ready to be read chunk by chunk
    (loaded whole, or :class:`CsvRows`); blocking problems raise CohortError.

    A file larger than :data:`ONE_PASS_BYTES` is streamed in one pass, its rows counted as they
    are read (``row_count`` None) and its problems found as they are met, unless ``counted``:
    then it is first read once to count its rows and choose its parser, as a file is that the
    one pass could not read (:class:`~cohortflow.ingest.raw.ReadAgainError`)."""
    sample = _sniff_text(path)
    sep_line = SEP_LINE.match(sample)
    if sep_line:
        delimiter, sample, skip = sep_line.group(1), sample[sep_line.end():], 2
    else:
        delimiter, skip = detect_delimiter(sample), 1
    try:
        # newline="": a CR alone ends a line too, as in the files DuckDB reads below
        headers = next(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter), [])
    except csv.Error as exc:
        raise CohortError(
            f"{path.name}: cannot read the header row ({exc})", code="unreadable_file"
        ) from None
    source_headers, headers = headers, trim_headers(headers)
    check_headers(path.name, headers)
    params = {"path": str(path), "delim": delimiter, "quote": '"'}
    if path.stat().st_size > ONE_PASS_BYTES and not counted:
        create_extras(conn, [])
        strict = _csv_sql(len(headers), parallel=True, long_lines=False, skip=skip, strict=True)
        return RawCohort(headers=headers, row_count=None, source_format="csv",
                         rows=CsvRows(path, strict, params,
                                      one_pass=OnePass(delimiter, skip, len(headers))),
                         delimiter=delimiter, source_headers=source_headers)
    query, row_count, boundary = _counted(conn, path, width=len(headers), delimiter=delimiter,
                                          skip=skip, load=path.stat().st_size <= ONE_PASS_BYTES)
    rows: TableRows | CsvRows = (
        CsvRows(path, query, params, boundary=boundary) if query else TableRows())
    return RawCohort(headers=headers, row_count=row_count, source_format="csv", rows=rows,
                     delimiter=delimiter, source_headers=source_headers)


def _counted(
    conn: duckdb.DuckDBPyConnection, path: Path, *, width: int, delimiter: str, skip: int,
    load: bool,
) -> tuple[str | None, int, dict[int, str]]:
    """Read the CSV once to choose its parser and count its rows (loading them into
    ``raw_table`` when ``load``), and create ``raw_extras``. Returns the query that streams
    the rows (None when loaded), the row count and, for a file read by the lenient parser, the
    last field within the header of each row with surplus fields (:class:`CsvRows`)."""
    # The quotes are counted in a thread while DuckDB reads the file (one pass each, at once);
    # an unclosed quote is the error to tell, also when it made DuckDB's reading fail.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cohortflow-quotes") as counting:
        quotes = counting.submit(check_balanced_quotes, path, delimiter)
        try:
            query, row_count, lenient = _choose_parser(
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
        if load and (mismatch := _first_mismatch(
                conn, boundary, f"({numbered_rows_sql('raw_table')})", 1, row_count,
                width=width)):
            raise _two_readings(path, f"row {mismatch}")
        create_extras(conn, [(number, surplus) for number, _, surplus in extras])
    else:
        create_extras(conn, [])
    return (None if load else query), row_count, boundary


@dataclass(frozen=True)
class OnePass:
    """How a CSV streamed in one pass is read again, counted first, if its parser fails."""

    delimiter: str
    skip: int
    width: int  # the header's columns


#: Rows DuckDB hands over at a time while a CSV is streamed.
STREAM_BATCH_ROWS = 122_880


@dataclass
class CsvRows:
    """A CSV's data rows, streamed by DuckDB's reader with the parser ``query`` chooses, and cut
    into chunks; ``rows_read`` counts them.

    ``one_pass`` (a file not counted first): the quotes are counted in a thread while the rows
    are streamed, and when DuckDB's parser refuses the file (a stray quote, surplus fields, a
    long line) before the first chunk, the file is counted and its parser chosen as
    :func:`_choose_parser` does, then streamed again, as if it had been counted first; after
    a chunk was handed on, :class:`~cohortflow.ingest.raw.ReadAgainError` is raised instead.

    ``boundary`` (lenient parsing only): for each row with surplus fields, its last field
    within the header as Python's csv module read it; DuckDB must have read the same, or the
    row's quotes can be read two ways and the cohort fails (:func:`_surplus_fields`)."""

    path: Path
    query: str
    params: dict[str, str]
    boundary: dict[int, str] = field(default_factory=dict)
    one_pass: OnePass | None = None
    rows_read: int = 0

    def chunks(self, conn: duckdb.DuckDBPyConnection, size: int) -> Iterator[int]:
        self.rows_read = 0
        if self.one_pass is None:
            yield from self._chunks(conn, size)
            return
        with ThreadPoolExecutor(max_workers=1,
                                thread_name_prefix="cohortflow-quotes") as counting:
            quotes = counting.submit(check_balanced_quotes, self.path, self.one_pass.delimiter)
            try:
                yield from self._chunks(conn, size)
            except _ParserError as failed:
                quotes.result()  # an unclosed quote is the error to tell
                if self.rows_read:
                    detail = str(failed.error).splitlines()[0]  # not the row's own text
                    raise ReadAgainError(f"{self.path.name}: {detail}") from None
            else:
                quotes.result()
                return
        self._choose_again(conn)
        yield from self._chunks(conn, size)

    def _choose_again(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Count the rows and choose the parser, as for a file counted first."""
        assert self.one_pass is not None
        query, _, self.boundary = _counted(
            conn, self.path, width=self.one_pass.width,
            delimiter=self.one_pass.delimiter, skip=self.one_pass.skip, load=False)
        assert query is not None
        self.query, self.one_pass = query, None

    def _chunks(self, conn: duckdb.DuckDBPyConnection, size: int) -> Iterator[int]:
        reader = conn.cursor()  # streams while `conn` runs each chunk's statements
        try:
            batches = _read(self.path, lambda: reader.sql(self.query, params=self.params)
                            .to_arrow_reader(min(size, STREAM_BATCH_ROWS)),
                            one_pass=self.one_pass is not None)
            first, pending = 1, None
            for batch in batches:
                if pending is None:
                    pending = pa.Table.from_batches([], schema=batch.schema)
                pending = pa.concat_tables([pending, pa.Table.from_batches([batch])])
                while pending.num_rows >= size:
                    # only the rest is held while the chunk is processed
                    chunk, pending = pending.slice(0, size), pending.slice(size)
                    self._create_chunk(conn, chunk, first)
                    del chunk
                    self.rows_read += size
                    yield first
                    first += size
            if pending is not None and pending.num_rows:
                self._create_chunk(conn, pending, first)
                self.rows_read += pending.num_rows
                del pending
                yield first
        finally:
            reader.close()

    def _create_chunk(self, conn: duckdb.DuckDBPyConnection, chunk: pa.Table,
                      first: int) -> None:
        conn.register("_csv_chunk", chunk)
        try:
            conn.execute("create or replace temp table chunk_raw as select * from _csv_chunk")
        finally:
            conn.unregister("_csv_chunk")
        expose_chunk(conn, first)
        if self.boundary:
            mismatch = _first_mismatch(conn, self.boundary, "chunk_rows", first,
                                       chunk.num_rows, width=chunk.num_columns)
            if mismatch:
                raise _two_readings(self.path, f"row {mismatch}")


class _ParserError(Exception):
    """DuckDB's parser refused a CSV streamed in one pass (see :class:`CsvRows`)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _read(path: Path, open_reader: Callable[[], pa.RecordBatchReader], *,
          one_pass: bool = False) -> Iterator[pa.RecordBatch]:
    """The batches of the reader ``open_reader`` opens; a parse error the counting pass did not
    meet (it does not decode the values: invalid UTF-8 is found here) is reported as an
    unreadable file, or, in one pass, raised as :class:`_ParserError`. pyarrow's reader hands
    DuckDB's errors on as ``OSError``."""
    try:
        yield from open_reader()
    except duckdb.OutOfMemoryException:
        raise
    except (duckdb.Error, OSError) as exc:
        if "out of memory" in str(exc).lower():
            raise duckdb.OutOfMemoryException(str(exc)) from None
        if one_pass:
            raise _ParserError(exc) from None
        raise _unreadable(path, exc) from None


#: The longest line a CSV may have (a 10 MB cell is in the bad-input corpus). DuckDB's default
#: (2 MB) is tried first: its read buffers are sized from this limit.
LONG_LINE_BYTES = 64_000_000
LINE_TOO_LONG = "maximum line size"  # in DuckDB's error for a line over max_line_size


def _choose_parser(
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
        query = _csv_sql(column_count, parallel=parallel, long_lines=long_lines, skip=skip,
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
                raise _unreadable(path, exc) from None


def _csv_sql(column_count: int, *, parallel: bool, long_lines: bool, skip: int,
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
        raise _two_readings(path, "a row")
    return found


def _two_readings(path: Path, where: str) -> CohortError:
    return CohortError(
        f"{path.name}: {where} has more fields than the header, and its quotes can be read "
        "two ways, so its values cannot be told apart; put values holding the delimiter or "
        'a quote in double quotes (a quote inside as "") and drop the file again',
        code="unreadable_file",
    )


def _first_mismatch(conn: duckdb.DuckDBPyConnection, boundary: dict[int, str], rows: str,
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


def _unreadable(path: Path, error: Exception) -> CohortError:
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

