"""Process one cohort file: read → blocking checks → row checks → DNC → render → dedupe →
contracts → artefacts. The CLI (``cohortflow process``) and the DAG (``cohort_ingest``) both
call :func:`process_cohort`; nothing here knows about Airflow.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from cohortflow import (
    formatters,
    phones_fast,
    streaming,
    template_sql,
    templating,
)
from cohortflow.config import CampaignConfig, Mapping, infer_mapping
from cohortflow.csvsafe import csv_safe
from cohortflow.digest import file_sha256
from cohortflow.errors import CohortError, ConfigError, ResourceError
from cohortflow.readers import RawCohort, read_cohort, rows_between_sql
from cohortflow.report import write_report
from cohortflow.settings import get_settings
from cohortflow.sqlfiles import quote_identifier, render_sql
from cohortflow.summary import CohortSummary, write_json_atomic
from cohortflow.workspace import MEMORY_LIMIT_ENV, Workspace, int_setting, memory_limit

if TYPE_CHECKING:
    from cohortflow.prefetch import Prefetch

log = logging.getLogger(__name__)

# pyarrow (numpy with it, about 0.15 s) is imported by the functions that use it, not here: a
# run usually needs it only once DuckDB has read the file, by which time the contracts' preload
# thread has imported it along with pandera. Nothing else on the way to the read imports it.

#: Macros the output SQL calls (sql/ingest/06_rejected.sql), besides the mapping's formatters.
_OUTPUT_MACROS = ("fmt_csv_safe",)

RECIPIENTS_FILE = "recipients.parquet"
REJECTED_FILE = "rejected.csv"
REJECTIONS_FILE = "rejections.parquet"
SUMMARY_FILE = "summary.json"
ARTEFACTS = (RECIPIENTS_FILE, REJECTED_FILE, REJECTIONS_FILE, SUMMARY_FILE)


@dataclass(frozen=True)
class OutputField:
    """One output column: where it comes from in ``raw_rows`` and how it is checked."""

    index: int
    name: str
    source_sql: str  # positional column (c3) or a bound parameter ($value_2)
    format: str | None
    required: bool


@dataclass
class CohortRequest:
    """Everything needed to process one file."""

    source: Path  # a local copy of the file
    campaign: CampaignConfig
    mapping: Mapping | None = None
    mapping_source: str | None = None  # where the mapping came from, for messages
    region: str | None = None  # overrides the campaign's default region
    dnc: Path | None = None  # overrides the campaign's DNC list
    source_uri: str | None = None  # where the file was found (landing path or URL)
    source_type: str = "file_upload"
    name: str | None = None  # cohort name, defaults to the file name
    sql_dir: Path | None = None
    cohort_id: str | None = None  # a fixed id (nightly SQL cohorts); default: campaign + content
    sha256: str | None = None  # the file's SHA-256, when the caller has it (default: hashed here)


@dataclass
class _Timer:
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started)  # summed over chunks

    def add(self, name: str, seconds: float) -> None:
        self.timings[name] = round(self.timings.get(name, 0.0) + seconds, 4)


_WARM_UP: list[threading.Thread] = []  # the one warm-up thread of this process, once started
_WARM_UP_LOCK = threading.Lock()


def _preload_contracts() -> None:
    """Import pandera and load its pyarrow backend and checks (0.3 to 0.5 s of CPU, and pandas
    with it unless the process runs without: cohortflow.without_pandas) in a thread while
    DuckDB reads the file and checks the phones (which release the GIL); the contracts step
    waits for it (:func:`_contracts`). Once per process."""
    with _WARM_UP_LOCK:
        if not _WARM_UP:
            thread = threading.Thread(target=_warm_up_contracts, name="cohortflow-preload",
                                      daemon=True)
            thread.start()
            _WARM_UP.append(thread)


def _contracts() -> Any:
    """The contracts module, once the warm-up thread (if any) has finished with it."""
    for thread in _WARM_UP:
        thread.join()
    return importlib.import_module("cohortflow.contracts")


def _warm_up_contracts() -> None:
    try:
        importlib.import_module("cohortflow.contracts").warm_up()
    except Exception:  # the real validation reports any problem; a warm-up never fails a run
        log.debug("contracts warm-up failed", exc_info=True)


def cohort_id_for(campaign_id: str, sha256: str) -> str:
    """Deterministic cohort id: the same content in the same campaign is the same cohort."""
    return hashlib.sha256(f"{campaign_id}:{sha256}".encode()).hexdigest()[:16]


def process_cohort(
    request: CohortRequest, out_dir: Path, *, prefetch: Prefetch | None = None
) -> CohortSummary:
    """Process ``request.source`` and write the cohort's artefacts into ``out_dir``.

    Returns the summary (also written as ``summary.json``, last, so its presence means the
    other artefacts are complete). Blocking problems give a ``failed`` summary and no
    recipients; bugs raise. ``prefetch``: the same file already being read (the CLI starts
    it before importing this module); its workspace is taken over and closed here.
    """
    timer = _Timer()
    _preload_contracts()
    now = _utcnow()
    sha256 = request.sha256 or file_sha256(request.source)
    campaign = request.campaign
    summary = CohortSummary(
        cohort_id=request.cohort_id or cohort_id_for(campaign.campaign_id, sha256),
        campaign_id=campaign.campaign_id,
        name=request.name or request.source.name,
        status="failed",
        source_type=request.source_type,
        source=request.source_uri or str(request.source),
        sha256=sha256,
        created_at=now,
        updated_at=now,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    closed: Future[None] | None = None
    try:
        try:
            workspace = (prefetch.take(request.source) if prefetch is not None
                         else Workspace.open(request.source))
            try:
                pending = _run(workspace.conn, request, summary, out_dir, timer, prefetch)
            except duckdb.OutOfMemoryException:
                raise _out_of_memory(summary.name, on_disk=workspace.on_disk) from None
            finally:  # while the last contract is checked and the summary written
                closed = workspace.close_in_background()
            with timer.step("write"):
                pending.publish()
            summary.status = "completed"
        except (CohortError, ConfigError) as exc:
            message = (exc.message if summary.name in exc.message
                       else f"{summary.name}: {exc.message}")
            summary.fail(exc.code, message)
            _remove_stale(out_dir)
            log.warning("cohort %s failed: %s", summary.cohort_id, message)
        summary.timings = timer.timings
        summary.updated_at = _utcnow()
        write_json_atomic(out_dir / SUMMARY_FILE, summary.to_json())
        write_report(out_dir, summary)
    finally:
        if closed is not None:
            closed.result()  # the workspace is gone (and its scratch folder) when this returns
    return summary


def _out_of_memory(name: str, *, on_disk: bool) -> ResourceError:
    """What to do when DuckDB cannot stay within its memory limit (an operation that cannot
    spill to disk, such as a chunk's joins when the chunks are too large for the limit)."""
    return ResourceError(
        f"{name}: ran out of memory while processing (DuckDB's memory limit is "
        f"{memory_limit(on_disk=on_disk)}, chunks of {chunk_rows():,} rows). Raise "
        f"{MEMORY_LIMIT_ENV} or lower {CHUNK_ROWS_ENV}, then process the file again; nothing "
        "was published and the file was not moved"
    )


def _run(
    conn: duckdb.DuckDBPyConnection,
    request: CohortRequest,
    summary: CohortSummary,
    out_dir: Path,
    timer: _Timer,
    prefetch: Prefetch | None,
) -> _Pending:
    """Every step up to the artefacts written and their contracts started (see
    :func:`_write_outputs`)."""
    campaign = request.campaign
    sql_dir = request.sql_dir or Path(get_settings().sql_dir)
    region = (request.region or campaign.default_region).upper()
    if prefetch is not None:  # read in its thread while the command imported the pipeline
        raw = prefetch.raw()
        timer.add("read", prefetch.seconds)
    else:
        with timer.step("read"):
            raw = read_cohort(
                conn, request.source, max_workbook_bytes=get_settings().max_workbook_bytes
            )
    summary.headers = raw.headers
    mapping = request.mapping or campaign.mapping
    if mapping is None:
        declared = set(campaign.variables) or None
        mapping = infer_mapping(raw.headers, declared)
    summary.mapping = mapping.to_json()
    summary.mapping_inferred = mapping.inferred
    summary.mapping_source = (
        "inferred from headers"
        if mapping.inferred
        else (request.mapping_source or ("campaign config" if campaign.mapping else None))
    )
    with timer.step("blocking_checks"):
        fields = _output_fields(raw, mapping, campaign)
        macros = formatters.MacroFiles.read(conn, sql_dir)
        formats = {f.format for f in fields if f.format}
        macros.check(formats)
        macros.define(conn, [*_OUTPUT_MACROS, *(formatters.MACRO_PREFIX + f for f in formats)])
        message, layout = _compile_templates(campaign, fields)
        if raw.row_count == 0:
            raise CohortError(
                f"{request.source.name}: the file has a header but no data rows", code="no_data"
            )
    summary.total_records = raw.row_count
    params = _field_params(mapping, fields)
    phone_column = raw.column_for(mapping.phone_number.column_name or "")
    columns = [
        {"source": source, "header": str(csv_safe(header))}
        for source, header in zip(raw.columns, raw.headers, strict=True)
    ]
    with timer.step("dnc"):
        dnc_path = request.dnc or campaign.dnc
        if dnc_path:
            import pyarrow as pa

            from cohortflow.dnc import load_dnc_numbers

            conn.register("dnc_numbers", pa.table({"e164": load_dnc_numbers(dnc_path, region)}))
        else:  # not an empty Arrow table: registering one makes DuckDB wait for pandas's import
            conn.execute("create or replace temp table dnc_numbers (e164 varchar)")
    conn.execute("create or replace temp table seen (phone_key bigint, kept_row bigint)")
    # The same statements for every chunk: a simple template (or none) makes checks, render and
    # dedupe one statement; otherwise Jinja renders the materialised checks in between.
    message_sql = _message_sql(fields, message, layout)
    checks_sql = render_sql(sql_dir, "ingest/02_row_checks.sql", source="chunk_rows",
                            fields=fields)
    final_sql = render_sql(sql_dir, "ingest/03_dedupe.sql", message_sql=message_sql,
                           source="chunk_rows", fields=fields)
    size = chunk_rows()
    for first in range(1, raw.row_count + 1, size):
        # Every per-row step works on one chunk of rows: memory stays flat and time grows
        # linearly with the file. Duplicates across chunks are found through `seen`; the
        # rejected rows keep their original columns from the chunk while it is at hand.
        conn.execute("create or replace temp view chunk_rows as "
                     + rows_between_sql(first, first + size - 1, raw.row_count))
        with timer.step("phones"):
            _phone_lookup(conn, phone_column, region, sql_dir=sql_dir)
        if message_sql is None:  # Jinja renders the rows that pass the checks
            with timer.step("row_checks"):
                conn.execute(f"create or replace temp table checked as {checks_sql}", params)
            with timer.step("render"):
                _render(conn, fields, message, layout)
        with timer.step("checks_dedupe" if message_sql else "dedupe"):
            conn.execute(f"{_into('final_all', first)} {final_sql}",
                         params if message_sql else None)
            if first + size <= raw.row_count:  # a later chunk looks its numbers up in `seen`
                conn.execute("insert into seen select phone_key, row_number from final_all "
                             f"where row_number >= {first:d} and rejected_reason is null")
            conn.execute(f"{_into('rejected_rows', first)} "
                         + render_sql(sql_dir, "ingest/05_rejected_rows.sql", first=first))
            _drop(conn, "phone_lookup", "checked", "rendered")
    _drop(conn, "dnc_numbers", "seen", "chunk_rows", "raw_rows", "raw_table")
    with timer.step("write"):
        _create_outputs(conn, fields, columns, sql_dir, message_sql=message_sql,
                        has_message=message is not None, has_payload=layout is not None)
        return _write_outputs(conn, columns, out_dir, summary)


def _into(table: str, first: int) -> str:
    """The start of a statement that creates ``table`` from the first chunk (its first row is
    row 1) and appends each later chunk to it."""
    return f"create or replace temp table {table} as" if first == 1 else f"insert into {table}"


#: Rows per chunk of the per-row steps (``COHORTFLOW_CHUNK_ROWS`` to change): large enough
#: that the fixed cost of each step is small, small enough that a chunk's joins and aggregates
#: stay in memory.
CHUNK_ROWS = 1_500_000
CHUNK_ROWS_ENV = "COHORTFLOW_CHUNK_ROWS"


def chunk_rows() -> int:
    """How many rows each chunk of the per-row steps holds."""
    return int_setting(CHUNK_ROWS_ENV, CHUNK_ROWS, minimum=1, what="a number of rows")


def _drop(conn: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Free intermediate tables (or registered Arrow views) once the next step has used them."""
    for name in names:
        try:
            conn.execute(f"drop table if exists {quote_identifier(name)}")
        except duckdb.CatalogException:  # a view, or a registered Arrow table
            try:
                conn.execute(f"drop view if exists {quote_identifier(name)}")
            except duckdb.CatalogException:
                conn.unregister(name)


def _output_fields(raw: RawCohort, mapping: Mapping, campaign: CampaignConfig) -> list[OutputField]:
    """Blocking checks of the mapping against the headers and the campaign's variables."""
    missing = [
        (name, m.column_name)
        for name, m in [("phone_number", mapping.phone_number), *mapping.output_fields().items()]
        if m.column_name is not None and m.column_name not in raw.headers
    ]
    if missing:
        described = ", ".join(f"{col!r} (for {name})" for name, col in missing)
        raise CohortError(
            f"mapped column(s) {described} not found among the headers; headers are: "
            f"{', '.join(raw.headers)}. Fix the mapping's column_name or the file's header.",
            code="missing_column",
        )
    if campaign.variables:
        undeclared = sorted(set(mapping.app_variables) - set(campaign.variables))
        if undeclared:
            raise CohortError(
                f"app_variables {', '.join(undeclared)} are not declared by campaign "
                f"{campaign.campaign_id!r} (declared: {', '.join(campaign.variables)}); "
                "remove them from the mapping or declare them in the campaign config",
                code="undeclared_variable",
            )
        unmapped = sorted(
            name
            for name, spec in campaign.variables.items()
            if spec.required and name not in mapping.app_variables
        )
        if unmapped:
            raise CohortError(
                f"required variable(s) {', '.join(unmapped)} of campaign "
                f"{campaign.campaign_id!r} are not mapped; add them to app_variables",
                code="unmapped_variable",
            )
    fields = []
    for index, (name, source) in enumerate(mapping.output_fields().items(), start=1):
        source_sql = (
            raw.column_for(source.column_name)
            if source.column_name is not None
            else f"$value_{index}::varchar"
        )
        fields.append(OutputField(index, name, source_sql, source.format, source.required))
    return fields


def _field_params(mapping: Mapping, fields: list[OutputField]) -> dict[str, Any]:
    sources = list(mapping.output_fields().values())
    return {
        f"value_{f.index}": sources[f.index - 1].value
        for f in fields
        if sources[f.index - 1].value is not None
    }


def _compile_templates(
    campaign: CampaignConfig, fields: list[OutputField]
) -> tuple[templating.MessageTemplate | None, templating.LayoutTemplate | None]:
    available = {f.name for f in fields} | {"phone_number", "region"}
    message = layout = None
    if campaign.template is not None:
        message = templating.MessageTemplate.compile(campaign.template, field="template")
        templating.check_template(message, available, field="template")
    if campaign.layout is not None:
        layout = templating.LayoutTemplate.compile(campaign.layout, field="layout")
        templating.check_template(layout, available, field="layout")
    return message, layout


def _phone_lookup(
    conn: duckdb.DuckDBPyConnection, column: str, region: str, *, sql_dir: Path,
) -> None:
    """The table ``phone_lookup(row_number, e164, region, error)`` for the rows of
    ``chunk_rows`` that have a phone."""
    values_sql = (f"select row_number, {column} as raw from chunk_rows "
                  f"where {column} is not null")
    # the same results either way: decided in SQL where provable, or all by the library
    phones_fast.create_phone_lookup(conn, sql_dir, values_sql, region,
                                    fast=phones_fast.fast_paths_enabled())


def _message_sql(
    fields: list[OutputField],
    message: templating.MessageTemplate | None,
    layout: templating.LayoutTemplate | None,
) -> str | None:
    """The SQL expression rendering the message in 03_dedupe.sql, or None when Jinja must
    render (a layout, a template that is not simple, or fast paths off). Without any template
    the message is NULL."""
    if not phones_fast.fast_paths_enabled() or layout is not None:
        return None
    if message is None:
        return "null::varchar"
    return template_sql.message_expression(message, {
        "phone_number": "phone_number", "region": "region",
        **{f.name: f"value_{f.index}" for f in fields}})


def _render(
    conn: duckdb.DuckDBPyConnection,
    fields: list[OutputField],
    message: templating.MessageTemplate | None,
    layout: templating.LayoutTemplate | None,
) -> None:
    """Render the message and layout with Jinja for the rows of ``checked`` that passed every
    check so far, into the Arrow table ``rendered``."""
    import pyarrow as pa

    empty = pa.table(
        {
            "row_number": pa.array([], pa.int64()),
            "message": pa.array([], pa.string()),
            "payload": pa.array([], pa.string()),
            "render_error": pa.array([], pa.string()),
        }
    )
    if message is None and layout is None:
        conn.register("rendered", empty)
        return
    value_columns = ", ".join(f"value_{f.index}" for f in fields)
    candidates = conn.sql(
        "select row_number, e164, region"
        + (f", {value_columns}" if value_columns else "")
        + " from checked where reasons is null order by row_number"
    ).to_arrow_table()
    context_columns: dict[str, list[str | None]] = {
        "phone_number": candidates.column("e164").to_pylist(),
        "region": candidates.column("region").to_pylist(),
    }
    for f in fields:
        context_columns[f.name] = candidates.column(f"value_{f.index}").to_pylist()
    rows = candidates.num_rows
    messages: list[str | None] = [None] * rows
    payloads: list[str | None] = [None] * rows
    errors: list[str | None] = [None] * rows
    if message is not None:
        messages, message_errors = templating.render_rows(message, context_columns)
        errors = [e and f"template: {e}" for e in message_errors]
    if layout is not None:
        payloads, layout_errors = templating.render_rows(layout, context_columns)
        errors = [a or (b and f"layout: {b}") for a, b in zip(errors, layout_errors, strict=True)]
    conn.register(
        "rendered",
        pa.table(
            {
                "row_number": candidates.column("row_number"),
                "message": pa.array(messages, pa.string()),
                "payload": pa.array(payloads, pa.string()),
                "render_error": pa.array(errors, pa.string()),
            }
        ),
    )


def _create_outputs(
    conn: duckdb.DuckDBPyConnection,
    fields: list[OutputField],
    columns: list[dict[str, str]],
    sql_dir: Path,
    *,
    message_sql: str | None,
    has_message: bool,
    has_payload: bool,
) -> None:
    """The outputs over ``final_all`` and ``rejected_rows``, in file order: the views
    ``recipients_out``, ``rejected_out`` and ``rejections_view`` (materialised as the table
    ``rejections_out`` by :func:`_write_outputs`)."""
    conn.execute("create or replace temp view recipients_out as " + render_sql(
        sql_dir, "ingest/04_recipients.sql", fields=fields, message_sql=message_sql,
        has_message=has_message, has_payload=has_payload))
    conn.execute("create or replace temp view rejections_view as " + render_sql(
        sql_dir, "ingest/07_rejections.sql", columns=columns))
    conn.execute("create or replace temp view rejected_out as " + render_sql(
        sql_dir, "ingest/06_rejected.sql", columns=columns))


@dataclass
class _Pending:
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


def _write_outputs(
    conn: duckdb.DuckDBPyConnection,
    columns: list[dict[str, str]],
    out_dir: Path,
    summary: CohortSummary,
) -> _Pending:
    """Write the artefacts under temporary names, start checking them against the contracts,
    and count; the caller publishes them (:meth:`_Pending.publish`) once it no longer needs
    DuckDB, so that closing the workspace overlaps the last contract check.

    The recipients go first: their contract, the longest check, runs in its thread while the
    rejected side is written."""
    contracts = _contracts()  # pandera: loaded by _preload_contracts
    pending = _Pending(out_dir, {name: out_dir / f".{name}.tmp"
                                 for name in (REJECTED_FILE, RECIPIENTS_FILE, REJECTIONS_FILE)})
    files = pending.files
    try:
        streaming.write_parquet(conn, "recipients_out", files[RECIPIENTS_FILE])
        pending.checks.append(streaming.start_validation(
            conn, "recipients_out", files[RECIPIENTS_FILE], contracts.arrow_schema("Recipients")))
        named = ", ".join(
            [f"{column['source']} as {quote_identifier(column['header'])}" for column in columns]
            + ["rejected_reason"]
        )
        conn.execute(
            f"copy (select {named} from rejected_out) to '{_sql_path(files[REJECTED_FILE])}' "
            "(header, delimiter ',', quote '\"')"
        )
        conn.execute("create or replace temp table rejections_out as "
                     "select * from rejections_view")
        _drop(conn, "rejected_out", "rejections_view", "rejected_rows")
        streaming.write_parquet(conn, "rejections_out", files[REJECTIONS_FILE])
        pending.checks.append(streaming.start_validation(
            conn, "rejections_out", files[REJECTIONS_FILE], contracts.arrow_schema("Rejections")))
        _count(conn, summary)
    except BaseException:
        pending.discard()
        raise
    return pending


def _count(conn: duckdb.DuckDBPyConnection, summary: CohortSummary) -> None:
    """The summary's counts, from the output tables; they must add up to the rows read."""
    summary.valid_records = conn.execute("select count(*) from recipients_out").fetchall()[0][0]
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


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _remove_stale(out_dir: Path) -> None:
    """A failed cohort publishes no recipients: drop artefacts of an earlier run."""
    for name in (RECIPIENTS_FILE, REJECTED_FILE, REJECTIONS_FILE):
        (out_dir / name).unlink(missing_ok=True)


def _utcnow() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
