"""Writing a cohort's artefacts: recipients, rejections and rejected rows, checked first.

Each output is a DuckDB view over ``raw_table`` (the file's cells) and ``final_all`` (what the
checks found, one row per data row), paired row by row, written by ``COPY`` to a temporary
file; the Parquet files are validated against their
contracts (:mod:`cohortflow.ingest.contracts`), and only once every check has passed are the
files renamed into place, so a reader never sees a half-written or unchecked artefact.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cohortflow.ingest import contracts
from cohortflow.ingest.fields import OutputField
from cohortflow.ingest.workspace import drop_tables
from cohortflow.render.csvsafe import csv_safe
from cohortflow.sqlfiles import quote_identifier, render_sql
from cohortflow.warehouse.paths import RECIPIENTS_FILE, REJECTED_FILE, REJECTIONS_FILE
from cohortflow.warehouse.summary import CohortSummary

#: Distinct values per column and row group beyond which a column is written PLAIN rather
#: than dictionary-encoded: columns of mostly unique values (numbers, messages, ids) are left
#: to zstd instead of growing large dictionaries.
DICTIONARY_VALUES = 4096
#: DuckDB's rows per Parquet row group, which its writer holds in memory before writing.
ROW_GROUP_ROWS = 122_880
#: Cells per row group at most: a wide file's row groups hold fewer rows, so the writer's
#: memory follows the cells, not the columns times a fixed number of rows.
ROW_GROUP_CELLS = 8_000_000
#: The name of the reasons column of rejected.csv, unless the file has a column of that name.
REASON_COLUMN = "rejected_reason"


def write_parquet(conn: duckdb.DuckDBPyConnection, table: str, path: Path) -> None:
    """Write ``table`` (in its stored order) to ``path`` as zstd parquet (the caller writes to
    a temporary name and renames once the contracts have passed); zstd level 1 writes faster
    than the default level for about the same size. A table of more than
    ``ROW_GROUP_CELLS / ROW_GROUP_ROWS`` (65) columns gets smaller row groups, and DuckDB's
    default dictionary limit: with :data:`DICTIONARY_VALUES`, 2,000 columns of 10,000 rows took
    DuckDB's writer past its memory limit."""
    target = str(path).replace("'", "''")
    width = len(conn.sql(f"select * from {quote_identifier(table)} limit 0").columns)
    rows = max(2048, ROW_GROUP_CELLS // max(width, 1))
    layout = (f"row_group_size {rows:d}" if rows < ROW_GROUP_ROWS
              else f"dictionary_size_limit {DICTIONARY_VALUES:d}")
    conn.execute(
        f"copy (select * from {quote_identifier(table)}) to '{target}' "
        f"(format parquet, compression zstd, compression_level 1, {layout})"
    )


def reason_column(headers: Sequence[str]) -> str:
    """The name of rejected.csv's reasons column: ``rejected_reason``, with a ``_`` in front
    as many times as needed to differ from every header of the file (ignoring case and
    surrounding whitespace, as a spreadsheet or a database reading it back would)."""
    taken = {header.strip().casefold() for header in headers}
    name = REASON_COLUMN
    while name.casefold() in taken:
        name = "_" + name
    return name


def csv_line(cells: Sequence[str]) -> str:
    """One CSV line quoted as DuckDB's writer quotes (a cell holding ``,`` ``"`` CR or LF is
    put in quotes, a quote doubled), ending in LF."""
    quoted = ['"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\r\n') else cell
              for cell in cells]
    return ",".join(quoted) + "\n"


def create_outputs(
    conn: duckdb.DuckDBPyConnection,
    fields: list[OutputField],
    columns: list[dict[str, str]],
    sql_dir: Path,
    *,
    message_sql: str | None,
    has_message: bool,
    has_payload: bool,
    keyed_by_user: bool = False,
) -> None:
    """The outputs over ``raw_table`` and ``final_all``, in file order: the views
    ``recipients_out``, ``recipient_keys`` (its key columns, from ``final_all`` alone: the
    number, or for a campaign of users the identifier),
    ``rejected_rows``, ``rejected_out`` and ``rejections_view`` (materialised as the table
    ``rejections_out`` by :func:`write_outputs`). ``phone_extension`` is a column of the
    recipients only when one of them has an extension."""
    has_extension = conn.execute(
        "select count(*) from final_all "
        "where rejected_reason is null and phone_extension is not null").fetchall()[0][0] > 0
    conn.execute("create or replace temp view recipients_out as " + render_sql(
        sql_dir, "ingest/04_recipients.sql", fields=fields, message_sql=message_sql,
        has_message=has_message, has_payload=has_payload, has_extension=has_extension))
    key = ("user_key as user_identifier" if keyed_by_user
           else "'+' || phone_key as phone_number")
    conn.execute(f"create or replace temp view recipient_keys as select row_number, {key} "
                 "from final_all where rejected_reason is null")
    conn.execute("create or replace temp view rejected_rows as " + render_sql(
        sql_dir, "ingest/05_rejected_rows.sql", columns=columns))
    conn.execute("create or replace temp view rejections_view as " + render_sql(
        sql_dir, "ingest/07_rejections.sql", columns=columns))
    conn.execute("create or replace temp view rejected_out as " + render_sql(
        sql_dir, "ingest/06_rejected.sql", columns=columns))


@dataclass
class PendingArtefacts:
    """Artefacts written under temporary names while their contracts are checked in threads."""

    out_dir: Path
    files: dict[str, Path]  # artefact name -> its temporary file
    checks: list[Future[None]] = field(default_factory=list)

    def publish(self) -> None:
        """Wait for every contract, then rename the files into place; on a failure, remove
        them and raise it (a contract's error: nothing is published)."""
        try:
            for check in self.checks:
                check.result()
        except BaseException:
            self.discard()
            raise
        for name, tmp in self.files.items():
            tmp.replace(self.out_dir / name)

    def discard(self) -> None:
        """Remove the temporary files, once no validation thread is reading them."""
        for check in self.checks:
            check.exception()
        for tmp in self.files.values():
            tmp.unlink(missing_ok=True)


def write_outputs(
    conn: duckdb.DuckDBPyConnection,
    columns: list[dict[str, str]],
    out_dir: Path,
    summary: CohortSummary,
    *,
    keyed_by_user: bool = False,
) -> PendingArtefacts:
    """Write the artefacts under temporary names, start checking them against the contracts,
    and count; the caller publishes them with :meth:`PendingArtefacts.publish`.

    The recipients go first: their contract, the longest check, runs in its thread while the
    rejected side is written."""
    pending = PendingArtefacts(out_dir, {
        name: out_dir / f".{name}.tmp" for name in (REJECTED_FILE, RECIPIENTS_FILE, REJECTIONS_FILE)
    })
    files = pending.files
    try:
        write_parquet(conn, "recipients_out", files[RECIPIENTS_FILE])
        pending.checks.append(contracts.start_validation(
            conn, "recipient_keys", files[RECIPIENTS_FILE],
            contracts.arrow_schema("RecipientsOfUsers" if keyed_by_user else "Recipients")))
        write_rejected_csv(conn, columns, files[REJECTED_FILE], summary)
        conn.execute("create or replace temp table rejections_out as "
                     "select * from rejections_view")
        drop_tables(conn, "rejected_out", "rejections_view", "rejected_rows", "recipient_keys",
                    "recipients_out", "raw_table")
        write_parquet(conn, "rejections_out", files[REJECTIONS_FILE])
        pending.checks.append(contracts.start_validation(
            conn, "rejections_out", files[REJECTIONS_FILE], contracts.arrow_schema("Rejections")))
        _count(conn, summary)
    except BaseException:
        pending.discard()
        raise
    return pending


def write_rejected_csv(
    conn: duckdb.DuckDBPyConnection, columns: list[dict[str, str]], path: Path,
    summary: CohortSummary,
) -> None:
    """Write rejected.csv: the header line as the file has it (each name neutralised like a
    cell, then the reasons column, :func:`reason_column`), then the rejected rows."""
    headers = [column["header"] for column in columns]
    summary.rejected_reason_column = reason_column(headers)
    header = csv_line([str(csv_safe(name)) for name in headers]
                      + [summary.rejected_reason_column])
    if not conn.execute("select count(*) from final_all "
                        "where rejected_reason is not null").fetchall()[0][0]:
        path.write_text(header, encoding="utf-8")  # COPY would add an empty line
        return
    conn.execute(f"copy (select * from rejected_out) to '{sql_path(path)}' "
                 "(header false, delimiter ',', quote '\"', prefix $header, suffix $end)",
                 {"header": header, "end": "\n"})


def _count(conn: duckdb.DuckDBPyConnection, summary: CohortSummary) -> None:
    """The summary's counts, from the output tables; they must add up to the rows read."""
    summary.valid_records = conn.execute(
        "select count(*) from final_all where rejected_reason is null").fetchall()[0][0]
    summary.rejected_records = conn.execute(
        "select count(*) from rejections_out").fetchall()[0][0]
    codes = conn.execute(  # in order of first appearance, as the counts are sorted stably
        "select reason_code, count(*) from rejections_out group by all order by min(row_number)"
    ).fetchall()
    summary.rejected_reasons = dict(sorted(dict(codes).items(), key=lambda kv: -kv[1]))
    if summary.valid_records + summary.rejected_records != summary.total_records:
        raise AssertionError(
            f"cohort {summary.cohort_id}: {summary.valid_records} valid + "
            f"{summary.rejected_records} rejected != {summary.total_records} total"
        )


def remove_stale(out_dir: Path) -> None:
    """A failed cohort publishes no recipients: drop artefacts of an earlier run."""
    for name in (RECIPIENTS_FILE, REJECTED_FILE, REJECTIONS_FILE):
        (out_dir / name).unlink(missing_ok=True)


def sql_path(path: Path) -> str:
    """``path`` as the text of a SQL string literal (single quotes doubled)."""
    return str(path).replace("'", "''")
