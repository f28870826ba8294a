"""Process one cohort file: read → blocking checks → then chunk by chunk: phones → row checks
→ DNC → render → dedupe → artefacts written; then contracts → artefacts published.

The CLI (``cohortflow process``) and the DAGs (``cohort_ingest``, the nightly SQL cohorts) all
call :func:`process_cohort`; nothing here knows about Airflow.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from cohortflow.config import CampaignConfig, Mapping, infer_mapping
from cohortflow.errors import CohortError, ConfigError, ResourceError
from cohortflow.ingest.dnc import load_dnc_numbers
from cohortflow.ingest.fields import (
    OutputField,
    compile_templates,
    dedupe_key,
    field_params,
    message_sql,
    output_fields,
    render_with_jinja,
)
from cohortflow.ingest.identity import cohort_id_for, file_sha256
from cohortflow.ingest.outputs import ArtefactWriter, PendingArtefacts, remove_stale
from cohortflow.ingest.phone_notes import create_empty_phone_tables, create_phone_notes
from cohortflow.ingest.raw import RawCohort, ReadAgainError
from cohortflow.ingest.readers import read_cohort_file
from cohortflow.ingest.report import write_report
from cohortflow.ingest.workspace import (
    MEMORY_LIMIT_ENV,
    Workspace,
    any_row_order,
    drop_tables,
    memory_limit,
)
from cohortflow.masking import mask_phones_in
from cohortflow.phones import create_phone_lookup
from cohortflow.render import MACRO_PREFIX, MacroFiles
from cohortflow.render.jinja import LayoutTemplate, MessageTemplate
from cohortflow.settings import env_name, get_settings
from cohortflow.sqlfiles import render_sql
from cohortflow.warehouse.paths import SUMMARY_FILE
from cohortflow.warehouse.summary import CohortSummary, write_json_atomic

log = logging.getLogger(__name__)

CHUNK_ROWS_ENV = env_name("chunk_rows")
#: Cells per chunk at most: a wide file's chunks hold fewer rows, so memory follows the cells
#: of a chunk, not its rows (1,000,000 rows of 4 columns).
CHUNK_CELLS = 4_000_000


def chunk_size(chunk_rows: int, width: int) -> int:
    """Rows per chunk of a file of ``width`` columns: ``COHORTFLOW_CHUNK_ROWS``, fewer for a
    file wider than :data:`CHUNK_CELLS` allows (at least 1,000)."""
    return min(chunk_rows, max(1_000, CHUNK_CELLS // max(width, 1)))


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
class StepTimer:
    """Seconds spent per step, summed over chunks (``summary.json``'s ``timings``)."""

    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as step ``name``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - started
            self.timings[name] = round(self.timings.get(name, 0.0) + seconds, 4)


def process_cohort(request: CohortRequest, out_dir: Path) -> CohortSummary:
    """Process ``request.source`` and write the cohort's artefacts into ``out_dir``.

    Returns the summary (also written as ``summary.json``, last, so its presence means the
    other artefacts are complete). Blocking problems give a ``failed`` summary and no
    recipients; a limit the machine cannot meet raises :class:`ResourceError` and a bad
    setting :class:`~cohortflow.errors.SettingsError` (nothing is published, the file can be
    processed again); bugs raise.
    """
    timer = StepTimer()
    now = utcnow()
    campaign = request.campaign
    out_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cohortflow-sha256") as hashing:
        # A file picked up from landing comes with its digest; otherwise (the CLI) it is taken
        # while DuckDB reads and processes the file, rather than in a pass of its own first.
        digest = None if request.sha256 else hashing.submit(file_sha256, request.source)
        summary = CohortSummary(
            cohort_id=request.cohort_id or "",
            campaign_id=campaign.campaign_id,
            name=request.name or request.source.name,
            status="failed",
            source_type=request.source_type,
            source=request.source_uri or str(request.source),
            sha256=request.sha256 or "",
            created_at=now,
            updated_at=now,
        )
        try:
            try:
                pending = _run_in_workspace(request, summary, out_dir, timer)
            except ReadAgainError as problem:
                # a large CSV's parser failed after rows were processed: again, counted first
                log.info("reading %s again, its rows counted first: %s", summary.name,
                         mask_phones_in(str(problem)))
                timer.timings.pop("phones_library_values", None)  # counted again, in full
                pending = _run_in_workspace(request, summary, out_dir, timer, counted=True)
            _identify(summary, request, digest)
            with timer.step("write"):
                pending.publish()
            summary.status = "completed"
        except (CohortError, ConfigError) as exc:
            _identify(summary, request, digest)
            message = (exc.message if summary.name in exc.message
                       else f"{summary.name}: {exc.message}")
            summary.fail(exc.code, message)
            remove_stale(out_dir)
            log.warning("cohort %s failed: %s", summary.cohort_id, message)
    summary.timings = timer.timings
    summary.updated_at = utcnow()
    write_json_atomic(out_dir / SUMMARY_FILE, summary.to_json())
    write_report(out_dir, summary)
    return summary


def _run_in_workspace(request: CohortRequest, summary: CohortSummary, out_dir: Path,
                      timer: StepTimer, *, counted: bool = False) -> PendingArtefacts:
    """:func:`_run` in a workspace of its own (``counted``: see :func:`read_cohort_file`)."""
    workspace = Workspace.open(request.source)
    try:
        return _run(workspace.conn, request, summary, out_dir, timer, counted=counted)
    except duckdb.OutOfMemoryException:
        raise _out_of_memory(summary.name) from None
    finally:
        workspace.close()


def _identify(summary: CohortSummary, request: CohortRequest, digest: Future[str] | None) -> None:
    """Set the summary's digest and cohort id (the digest being taken, when it was not given)."""
    if digest is not None:
        summary.sha256 = digest.result()
    summary.cohort_id = request.cohort_id or cohort_id_for(summary.campaign_id, summary.sha256)


def _no_data(source: Path) -> CohortError:
    return CohortError(f"{source.name}: the file has a header but no data rows", code="no_data")


def _out_of_memory(name: str) -> ResourceError:
    """What to do when DuckDB cannot stay within its memory limit (an operation that cannot
    spill to disk, such as a chunk's joins when the chunks are too large for the limit)."""
    return ResourceError(
        f"{name}: ran out of memory while processing (DuckDB's memory limit is "
        f"{memory_limit()}, chunks of at most {get_settings().chunk_rows:,} rows and "
        f"{CHUNK_CELLS:,} cells). Raise "
        f"{MEMORY_LIMIT_ENV} or lower {CHUNK_ROWS_ENV}, then process the file again; nothing "
        "was published and the file was not moved"
    )


def _run(
    conn: duckdb.DuckDBPyConnection,
    request: CohortRequest,
    summary: CohortSummary,
    out_dir: Path,
    timer: StepTimer,
    *,
    counted: bool = False,
) -> PendingArtefacts:
    """Every step up to the artefacts written and their contracts started."""
    settings = get_settings()
    campaign = request.campaign
    sql_dir = request.sql_dir or Path(settings.sql_dir)
    region = (request.region or campaign.default_region).upper()
    with timer.step("read"):
        raw = read_cohort_file(conn, request.source, counted=counted,
                               max_workbook_bytes=settings.max_workbook_bytes)
    summary.headers = [mask_phones_in(header) for header in raw.headers]
    summary.sheet = raw.sheet
    mapping = _mapping_for(request, raw, summary)
    with timer.step("blocking_checks"):
        fields = output_fields(raw, mapping, campaign)
        macros = MacroFiles.read(conn, sql_dir)
        formats = {f.format for f in fields if f.format}
        macros.check(formats)
        # (rejected.csv's fmt_csv_safe: the ArtefactWriter defines it on its own connection)
        macros.define(conn, [MACRO_PREFIX + f for f in formats])
        message, layout = compile_templates(campaign, fields)
        if raw.row_count == 0:
            raise _no_data(request.source)
    summary.total_records = raw.row_count or 0  # a file counted as it is read: set once read
    params = field_params(mapping, fields)
    phone = mapping.phone_number
    phone_column = raw.column_for(phone.column_name) if phone and phone.column_name else None
    key = dedupe_key(campaign, fields)
    columns = [
        {"source": source, "header": header}
        for source, header in zip(raw.columns, raw.source_headers, strict=True)
    ]
    with timer.step("dnc"):
        dnc_path = request.dnc or campaign.dnc
        numbers = load_dnc_numbers(dnc_path, region) if dnc_path else pa.array([], pa.string())
        conn.register("dnc_numbers", pa.table({"e164": numbers}))
    conn.execute(f"create or replace temp table seen ({key.column} {key.sql_type}, "
                 "kept_row bigint)")
    # The same statements for every chunk: a simple template (or none) makes checks and render
    # one statement, then the repeats are marked; otherwise Jinja renders the materialised
    # checks in between.
    rendered_sql = message_sql(fields, message, layout)
    shape = {"source": "chunk_rows", "fields": fields, "key": key, "phone_column": phone_column}
    checks_sql = render_sql(sql_dir, "ingest/02_row_checks.sql", **shape)
    outcomes_sql = render_sql(sql_dir, "ingest/03_outcomes.sql", message_sql=rendered_sql,
                              **shape)
    duplicates_sql = render_sql(sql_dir, "ingest/03_duplicates.sql", key=key)
    writer = ArtefactWriter(
        conn, out_dir, fields=fields, columns=columns, sql_dir=sql_dir, summary=summary,
        macros=macros, message_sql=rendered_sql, has_message=message is not None,
        has_payload=layout is not None, keyed_by_user=campaign.keyed_by_user)
    try:
        size = chunk_size(settings.chunk_rows, len(raw.headers))
        # Every per-row step works on one chunk of rows, and its artefacts are written before
        # the next is read: memory stays flat and time grows linearly with the file.
        # Duplicates across chunks are found through `seen`, the key and row of every
        # recipient so far.
        chunks = raw.rows.chunks(conn, size)
        while True:
            with timer.step("read"):  # a CSV's rows are read as they are needed
                first = next(chunks, None)
            if first is None:
                break
            # the chunk's tables are joined on row_number, and final_chunk is sorted by it
            with any_row_order(conn):
                _process_chunk(conn, timer, sql_dir, region=region, phone_column=phone_column,
                               fast_paths=settings.fast_paths, params=params,
                               checks_sql=checks_sql, outcomes_sql=outcomes_sql,
                               duplicates_sql=duplicates_sql,
                               jinja=None if rendered_sql else (fields, message, layout))
            with timer.step("checks_dedupe" if rendered_sql else "dedupe"):
                # later chunks look their numbers up in `seen`; the contract checks it whole
                conn.execute(f"insert into seen select {key.column}, row_number "
                             "from final_chunk where rejected_reason is null")
            with timer.step("write"):
                writer.write_chunk()
        summary.total_records = raw.rows.rows_read
        if summary.total_records == 0:
            raise _no_data(request.source)
        drop_tables(conn, "dnc_numbers", "chunk_rows", "chunk_raw", "final_chunk",
                    "raw_extras")
        with timer.step("write"):
            return writer.finish(kept="seen", key=key.column)
    except BaseException:
        writer.discard()
        raise


def _process_chunk(
    conn: duckdb.DuckDBPyConnection,
    timer: StepTimer,
    sql_dir: Path,
    *,
    region: str,
    phone_column: str | None,
    fast_paths: bool,
    params: dict[str, object],
    checks_sql: str,
    outcomes_sql: str,
    duplicates_sql: str,
    jinja: tuple[list[OutputField], MessageTemplate | None, LayoutTemplate | None] | None,
) -> None:
    """Create ``final_chunk``: the outcome of every row of ``chunk_rows`` (phones, checks,
    renders), then mark in it the duplicates of this or an earlier chunk (an UPDATE of the
    repeats only). ``fast_paths``: the phones' SQL path
    (the run's setting, read once); ``jinja``: the fields and templates Jinja renders between
    the checks and the dedupe, when the template is not simple."""
    with timer.step("phones"):
        if phone_column is None:  # a campaign of users whose mapping names no phone
            counts = {"library": 0}
            create_empty_phone_tables(conn)
        else:
            counts = create_phone_lookup(
                conn, sql_dir,
                f"select row_number, {phone_column} as raw from chunk_rows "
                f"where {phone_column} is not null",
                region, fast=fast_paths,
            )
            create_phone_notes(conn, sql_dir, phone_column, region)
    # not seconds: how many distinct phones the fast path left to phonenumbers
    timer.timings["phones_library_values"] = (
        timer.timings.get("phones_library_values", 0) + counts["library"])
    if jinja is not None:  # Jinja renders the rows that pass the checks
        with timer.step("row_checks"):
            conn.execute(f"create or replace temp table checked as {checks_sql}", params)
        with timer.step("render"):
            render_with_jinja(conn, *jinja)
    with timer.step("dedupe" if jinja else "checks_dedupe"):
        conn.execute(f"create or replace temp table final_chunk as {outcomes_sql}",
                     None if jinja else params)
        conn.execute(duplicates_sql)
        drop_tables(conn, "phone_lookup", "phone_notes", "checked", "rendered")


def _mapping_for(request: CohortRequest, raw: RawCohort, summary: CohortSummary) -> Mapping:
    """The mapping given (request, then campaign) or inferred from the headers; recorded in
    the summary with where it came from."""
    campaign = request.campaign
    mapping = request.mapping or campaign.mapping
    if mapping is None:
        mapping = infer_mapping(raw.headers, set(campaign.variables) or None,
                                keyed_by_user=campaign.keyed_by_user)
    summary.mapping = mapping.to_json()
    summary.mapping_inferred = mapping.inferred
    summary.mapping_source = (
        "inferred from headers"
        if mapping.inferred
        else (request.mapping_source or ("campaign config" if campaign.mapping else None))
    )
    return mapping


def utcnow() -> str:
    """The current UTC time as ISO 8601 with a ``Z``, to the second (summary timestamps)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
