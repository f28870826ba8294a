"""Writing a cohort's artefacts as each chunk is done: recipients, rejections, rejected rows.

Each chunk's outputs are queries over ``chunk_raw`` (the chunk's cells) and ``final_chunk``
(what the checks found, one row per data row), paired row by row; DuckDB streams them as Arrow
batches into Parquet writers (:mod:`cohortflow.ingest.parquet_files`) and appends the rejected
rows to ``rejected.csv``, so nothing of a chunk is kept once it is written. A chunk's rejected
rows are copied into a database the writer attaches (:data:`SIDE_DATABASE`) and written out
from there by a second connection, in a thread, while the main one goes on with the next
chunk or the contracts; the recipients' writer thread finishes meanwhile too. The files are
written under temporary names; once the last chunk is in, they are checked against their
contracts (:mod:`cohortflow.ingest.contracts`), and only once every check has passed are they
renamed into place, so a reader never sees a half-written or unchecked artefact.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cohortflow.ingest import contracts
from cohortflow.ingest.fields import OutputField
from cohortflow.ingest.parquet_files import ParquetOutput, insert_column, row_group_rows
from cohortflow.render import MacroFiles
from cohortflow.render.csvsafe import csv_safe
from cohortflow.sqlfiles import render_sql
from cohortflow.warehouse.paths import RECIPIENTS_FILE, REJECTED_FILE, REJECTIONS_FILE
from cohortflow.warehouse.summary import CohortSummary

#: The name of the reasons column of rejected.csv, unless the file has a column of that name.
REASON_COLUMN = "rejected_reason"
#: Macros the output SQL calls (sql/ingest/06_rejected.sql), besides the mapping's formatters.
OUTPUT_MACROS = ("fmt_csv_safe",)
#: The in-memory database the writer attaches for the rejected rows of a chunk: unlike the
#: workspace's temp tables, it is seen by the second connection that writes them out.
SIDE_DATABASE = "cohort_outputs"


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


class ArtefactWriter:
    """Writes the artefacts of one cohort chunk by chunk (:meth:`write_chunk`), then starts
    their contracts (:meth:`finish`); :meth:`discard` removes what was written.

    The summary's counts are the rows written to each file, and must add up to the rows read.
    ``phone_extension`` is a column of the recipients only when one of them has an extension:
    the recipients are written without it, and in that (rare) case the file is rewritten with
    the column once all chunks are in."""

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        out_dir: Path,
        *,
        fields: list[OutputField],
        columns: list[dict[str, str]],
        sql_dir: Path,
        summary: CohortSummary,
        macros: MacroFiles,
        message_sql: str | None,
        has_message: bool,
        has_payload: bool,
        keyed_by_user: bool = False,
    ) -> None:
        self.conn, self.summary, self.keyed_by_user = conn, summary, keyed_by_user
        self.files = {name: out_dir / f".{name}.tmp"
                      for name in (REJECTED_FILE, RECIPIENTS_FILE, REJECTIONS_FILE)}
        self.pending = PendingArtefacts(out_dir, self.files)
        self.recipients = ParquetOutput(self.files[RECIPIENTS_FILE])
        self.rejections = ParquetOutput(self.files[REJECTIONS_FILE])
        self._contract = "RecipientsOfUsers" if keyed_by_user else "Recipients"
        self._recipient_checks = contracts.BatchChecks(self._contract, RECIPIENTS_FILE)
        self._rejection_checks = contracts.BatchChecks("Rejections", REJECTIONS_FILE)
        # rows per batch, and so per row group, from each file's width: the recipients' fields
        # beside row_number, phone_number, region, message and payload; the rejections' four
        # columns, one of them (record) a JSON object of every cell of the row
        self._recipient_rows = row_group_rows(len(fields) + 5)
        self._rejection_rows = row_group_rows(len(columns) + 1)
        self._recipients_sql = render_sql(
            sql_dir, "ingest/04_recipients.sql", fields=fields, message_sql=message_sql,
            has_message=has_message, has_payload=has_payload)
        self._rejected_rows_sql = render_sql(sql_dir, "ingest/05_rejected_rows.sql",
                                             columns=columns)
        self._rejected_sql = render_sql(sql_dir, "ingest/06_rejected.sql", columns=columns)
        self._rejections_sql = render_sql(sql_dir, "ingest/07_rejections.sql", columns=columns)
        self._reasons: dict[str, int] = {}
        self._part = out_dir / f".{REJECTED_FILE}.part"
        headers = [column["header"] for column in columns]
        summary.rejected_reason_column = reason_column(headers)
        self.files[REJECTED_FILE].write_text(
            csv_line([str(csv_safe(name)) for name in headers]
                     + [summary.rejected_reason_column]), encoding="utf-8")
        conn.execute("create or replace temp table recipient_extensions "
                     "(row_number bigint, phone_extension varchar)")
        conn.execute(f"attach if not exists ':memory:' as {SIDE_DATABASE}")
        self._side = conn.cursor()  # writes the rejected rows, from SIDE_DATABASE
        self._side.execute(f"use {SIDE_DATABASE}")
        macros.define(self._side, OUTPUT_MACROS)
        self._side_thread = ThreadPoolExecutor(max_workers=1,
                                               thread_name_prefix="cohortflow-rejected")
        self._rejected: Future[None] | None = None

    def write_chunk(self) -> None:
        """Write the chunk in ``chunk_raw`` and ``final_chunk`` to every artefact: the
        recipients now; the rejected rows, once copied into the side database, in a thread
        that goes on while the next chunk is processed (or the contracts are checked)."""
        conn = self.conn
        self.recipients.write(conn.sql(self._recipients_sql).to_arrow_reader(
            self._recipient_rows), also=self._recipient_checks.check)
        conn.execute("insert into recipient_extensions select row_number, phone_extension "
                     "from final_chunk "
                     "where rejected_reason is null and phone_extension is not null")
        self._wait_rejected()  # the previous chunk's, before its table is replaced
        conn.execute(f"create or replace table {SIDE_DATABASE}.rejected_rows as "
                     + self._rejected_rows_sql)
        self._rejected = self._side_thread.submit(self._write_rejected)

    def _wait_rejected(self) -> None:
        """Wait until the rejected rows handed to the thread are written (raise its error)."""
        if self._rejected is not None:
            rejected, self._rejected = self._rejected, None
            rejected.result()

    def _write_rejected(self) -> None:
        """The side database's ``rejected_rows`` to the rejections and ``rejected.csv``."""
        side = self._side
        if self.rejections.write(side.sql(self._rejections_sql).to_arrow_reader(
                self._rejection_rows), also=self._rejection_checks.check):
            side.execute(f"copy ({self._rejected_sql}) to '{sql_path(self._part)}' "
                         "(header false, delimiter ',', quote '\"')")
            with self._part.open("rb") as part, self.files[REJECTED_FILE].open("ab") as csv:
                shutil.copyfileobj(part, csv)
            for code, count in side.execute(  # in order of first appearance
                    "select split_part(rejected_reason, ': ', 1), count(*) from rejected_rows "
                    "group by all order by min(row_number)").fetchall():
                self._reasons[code] = self._reasons.get(code, 0) + count
        side.execute("drop table rejected_rows")

    def _close_side(self) -> None:
        """Stop the rejected rows' thread and connection, and detach their database."""
        self._side_thread.shutdown(wait=True)
        self._side.close()
        self.conn.execute(f"detach database if exists {SIDE_DATABASE}")

    def finish(self, *, kept: str, key: str) -> PendingArtefacts:
        """Close the files, count, and check the contracts (uniqueness here, the other rules in
        threads); the caller publishes the files with :meth:`PendingArtefacts.publish` (or
        discards them).

        ``kept`` is the table of the key (column ``key``: the number as an integer, or the user
        identifier) and the row (``kept_row``) of every recipient written, which dedupe keeps
        as it goes: the recipients' uniqueness is checked over it, once it is known to hold
        one row per recipient written, rather than over the file's strings."""
        conn = self.conn
        identity = "user_identifier" if self.keyed_by_user else "phone_number"
        # the recipients' keys are checked while the last rejected rows and the recipients'
        # writer are finishing
        (kept_rows,), = conn.execute(f"select count(*) from {kept}").fetchall()
        if kept_rows != self.recipients.rows:
            raise contracts.ContractError(
                f"{kept}: {kept_rows} recipients kept, {self.recipients.rows} written")
        conn.execute(f"create or replace temp view recipient_keys as select kept_row as "
                     f"row_number, {key} as {identity} from {kept}")
        contracts.check_unique_rules(conn, "recipient_keys", self._contract)
        self._wait_rejected()
        self._close_side()
        self.rejections.close()
        self._part.unlink(missing_ok=True)
        conn.execute("create or replace temp view written_rejections as select * from "
                     f"read_parquet('{sql_path(self.files[REJECTIONS_FILE])}')")
        contracts.check_unique_rules(conn, "written_rejections", "Rejections")
        self.pending.checks.append(self._rejection_checks.close(self.rejections.schema))
        self.recipients.close()
        self.pending.checks.append(self._recipient_checks.close(self.recipients.schema))
        extensions = conn.sql("select * from recipient_extensions").to_arrow_table()
        if extensions.num_rows:
            insert_column(self.files[RECIPIENTS_FILE], "region", "phone_extension", extensions,
                          "row_number")
        self._count()
        return self.pending

    def discard(self) -> None:
        """Remove every file written so far (once their writer threads are done)."""
        with contextlib.suppress(Exception):  # the error being handled is the one to tell
            self._close_side()
        for output, checks in ((self.recipients, self._recipient_checks),
                               (self.rejections, self._rejection_checks)):
            with contextlib.suppress(Exception):  # the error being handled is the one to tell
                output.close()
            checks.close(None).exception()  # its thread is done with the batches
        self._part.unlink(missing_ok=True)
        self.pending.discard()

    def _count(self) -> None:
        """The summary's counts: the rows written; they must add up to the rows read."""
        summary = self.summary
        summary.valid_records = self.recipients.rows
        summary.rejected_records = self.rejections.rows
        summary.rejected_reasons = dict(sorted(self._reasons.items(), key=lambda kv: -kv[1]))
        if summary.valid_records + summary.rejected_records != summary.total_records:
            raise AssertionError(
                f"{summary.name}: {summary.valid_records} valid + "
                f"{summary.rejected_records} rejected != {summary.total_records} total"
            )


def remove_stale(out_dir: Path) -> None:
    """A failed cohort publishes no recipients: drop artefacts of an earlier run."""
    for name in (RECIPIENTS_FILE, REJECTED_FILE, REJECTIONS_FILE):
        (out_dir / name).unlink(missing_ok=True)


def sql_path(path: Path) -> str:
    """``path`` as the text of a SQL string literal (single quotes doubled)."""
    return str(path).replace("'", "''")
