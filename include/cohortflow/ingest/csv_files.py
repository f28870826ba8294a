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
from cohortflow.ingest.csv_parsers import (
    check_balanced_quotes,
    choose_and_count,
    csv_sql,
    first_mismatch,
    two_readings,
    unreadable,
)
from cohortflow.ingest.raw import (
    RawCohort,
    ReadAgainError,
    TableRows,
    check_headers,
    create_extras,
    expose_chunk,
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
    whole = path.stat().st_size <= ONE_PASS_BYTES
    if not whole and not counted:
        create_extras(conn, [])
        strict = csv_sql(len(headers), parallel=True, long_lines=False, skip=skip, strict=True)
        return RawCohort(headers=headers, row_count=None, source_format="csv",
                         rows=CsvRows(path, strict, params,
                                      one_pass=OnePass(delimiter, skip, len(headers))),
                         delimiter=delimiter, source_headers=source_headers)
    query, row_count, boundary = choose_and_count(
        conn, path, width=len(headers), delimiter=delimiter, skip=skip, load=whole)
    rows: TableRows | CsvRows = (
        CsvRows(path, query, params, boundary=boundary) if query else TableRows())
    return RawCohort(headers=headers, row_count=row_count, source_format="csv", rows=rows,
                     delimiter=delimiter, source_headers=source_headers)


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
    long line) before the first chunk, the file is counted and its parser chosen
    (:func:`~cohortflow.ingest.csv_parsers.choose_and_count`), then streamed again, as if it had
    been counted first; after a chunk was handed on,
    :class:`~cohortflow.ingest.raw.ReadAgainError` is raised instead.

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
        """Count the rows and choose the parser, as for a file counted first (its quotes were
        counted during the one pass)."""
        assert self.one_pass is not None
        query, _, self.boundary = choose_and_count(
            conn, self.path, width=self.one_pass.width,
            delimiter=self.one_pass.delimiter, skip=self.one_pass.skip, load=False,
            quotes_checked=True)
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
            mismatch = first_mismatch(conn, self.boundary, "chunk_rows", first,
                                       chunk.num_rows, width=chunk.num_columns)
            if mismatch:
                raise two_readings(self.path, f"row {mismatch}")


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
        raise unreadable(path, exc) from None
