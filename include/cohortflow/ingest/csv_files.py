"""Reading a CSV cohort file into the raw table (see :mod:`cohortflow.ingest.raw`).

The delimiter (``, ; TAB |``) is detected from a sample, unless the file starts with Excel's
``sep=X`` line, which names it (and is not the header); the header is read by Python's csv
module, the rows by DuckDB's CSV reader with every column as text. Lines may end in CRLF, LF or
CR alone (old Mac and some ERP exports). UTF-8 only (with or without BOM): UTF-16 and other
encodings are reported, never guessed at.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import duckdb

from cohortflow.errors import CohortError
from cohortflow.ingest.raw import OVERFLOW_COLUMN, RawCohort, check_headers, number_rows

DELIMITERS = ",;\t|"
SNIFF_BYTES = 256 * 1024


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


def read_csv_file(conn: duckdb.DuckDBPyConnection, path: Path) -> RawCohort:
    """Load the CSV at ``path`` into the raw table; blocking problems raise CohortError."""
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
    headers = [h.strip() for h in headers]
    check_headers(path.name, headers)
    check_balanced_quotes(path, delimiter)
    _load_csv(conn, path, column_count=len(headers), delimiter=delimiter, skip=skip)
    row_count = number_rows(conn)
    return RawCohort(headers=headers, row_count=row_count, source_format="csv", delimiter=delimiter)


#: The longest line a CSV may have (a 10 MB cell is in the bad-input corpus). DuckDB's default
#: (2 MB) is tried first: its read buffers are sized from this limit.
LONG_LINE_BYTES = 64_000_000
LINE_TOO_LONG = "maximum line size"  # in DuckDB's error for a line over max_line_size


def _load_csv(
    conn: duckdb.DuckDBPyConnection, path: Path, *, column_count: int, delimiter: str,
    skip: int = 1,
) -> None:
    """Create ``raw_table`` (``c1 .. cN`` and :data:`OVERFLOW_COLUMN`, all VARCHAR) from the CSV
    at ``path``, after its first ``skip`` lines (the header, and a ``sep=`` line): with DuckDB's
    default line size and its parallel reader first; again with room
    for lines up to :data:`LONG_LINE_BYTES` if a line is longer, and without the parallel reader
    if that one cannot split the file."""
    options = {"path": str(path), "delim": delimiter, "quote": '"'}
    long_lines, parallel = False, True
    while True:
        try:
            conn.execute(_csv_sql(column_count, parallel=parallel, long_lines=long_lines,
                                  skip=skip), options)
            return
        except duckdb.OutOfMemoryException:
            raise  # the machine's limit, not the file's fault: ingest says what to do
        except duckdb.Error as exc:
            message = str(exc).lower()
            if not long_lines and LINE_TOO_LONG in message:
                long_lines = True
            elif parallel and "parallel" in message:
                parallel = False
            else:
                raise _unreadable(path, exc) from None


def _csv_sql(column_count: int, *, parallel: bool, long_lines: bool, skip: int) -> str:
    # The header line (and a sep= line) is skipped; the table's rowid (insertion order) numbers the data rows.
    # A temp table: its blocks are never compressed and checkpointed into the scratch
    # database of a large cohort, only spilled when memory runs short.
    line_size = f"max_line_size = {LONG_LINE_BYTES:d}, " if long_lines else ""
    names = [f"c{i}" for i in range(1, column_count + 1)] + [OVERFLOW_COLUMN]
    columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in names) + "}"
    return f"""
        create or replace temp table raw_table as
        select *
        from read_csv($path, header = false, auto_detect = false, skip = {skip:d},
                      columns = {columns}, delim = $delim, quote = $quote, escape = $quote,
                      null_padding = true, strict_mode = false,
                      {line_size}parallel = {str(parallel).lower()})
    """


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


def _unreadable(path: Path, error: duckdb.Error) -> CohortError:
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

