"""The bodies of the ingest DAGs' tasks: one function per task, small inputs and outputs.

``cohort_ingest`` runs discover → process (mapped per file) → publish (in the 1-slot
``warehouse_writer`` pool); ``cohortflow ingest`` runs the same three in one process. The
nightly SQL cohorts run query → publish. Tasks pass small dicts (ids, paths, counts), never
data.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import duckdb

from cohortflow.config import find_campaign, load_mapping
from cohortflow.errors import ConfigError
from cohortflow.ingest.landing import (
    LandingFile,
    archive_file,
    archive_target,
    discover,
    landing_root,
    local_copy,
    make_path,
    processed_entry,
    record_processed,
)
from cohortflow.ingest.nightly import (
    already_dispatched,
    find_sql_cohort,
    local_date,
    nightly_cohort_id,
    render_query,
    run_query,
)
from cohortflow.ingest.process import CohortRequest, process_cohort, utcnow
from cohortflow.ingest.report import write_report
from cohortflow.settings import Settings, get_settings
from cohortflow.warehouse import (
    SUMMARY_FILE,
    CohortSummary,
    FileRecord,
    catalog,
    cohort_dir,
    mirror_warehouse,
    register_cohorts,
    write_json_atomic,
)

log = logging.getLogger(__name__)


def find_new_files(
    settings: Settings | None = None, *, campaign_id: str | None = None, file: str | None = None
) -> list[dict[str, Any]]:
    """Landing files to handle now: new ones, and re-drops of processed content (duplicates).

    Each item is ``LandingFile.to_xcom()`` plus ``duplicate_of`` (the earlier file's source, or
    None). Several files with the same content in one run: the first is processed, the others
    are duplicates of it.
    """
    settings = settings or get_settings()
    root = landing_root(settings.landing, settings.landing_conn_id)
    warehouse = Path(settings.warehouse)
    items: list[dict[str, Any]] = []
    first_seen: dict[str, str] = {}
    found_files = discover(
        root, campaign_id=campaign_id, only=file, settle_seconds=settings.settle_seconds
    )
    for found in found_files:
        earlier = processed_entry(warehouse, found.cohort_id)
        duplicate_of = earlier["uri"] if earlier else first_seen.get(found.cohort_id)
        first_seen.setdefault(found.cohort_id, found.uri)
        items.append({**found.to_xcom(), "duplicate_of": duplicate_of})
    return items


def process_file(item: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """Process one landing file into its cohort folder; returns the cohort's small result."""
    settings = settings or get_settings()
    file = LandingFile.from_xcom({k: v for k, v in item.items() if k != "duplicate_of"})
    out_dir = cohort_dir(Path(settings.warehouse), file.campaign_id, file.cohort_id)
    if item.get("duplicate_of"):
        return {**item, "status": "duplicate", "cohort_dir": str(out_dir)}
    summary = _process(file, out_dir, settings)
    return {
        **item,
        "status": summary.status,
        "cohort_dir": str(out_dir),
        "total_records": summary.total_records,
        "valid_records": summary.valid_records,
        "rejected_records": summary.rejected_records,
        "error": summary.error,
    }


def _process(file: LandingFile, out_dir: Path, settings: Settings) -> CohortSummary:
    conn_id = settings.landing_conn_id
    try:
        campaign = find_campaign(Path(settings.campaigns), file.campaign_id)
        mapping = None
        if file.mapping_uri is not None:
            with local_copy(make_path(file.mapping_uri, conn_id)) as mapping_path:
                mapping = load_mapping(mapping_path)
    except ConfigError as exc:
        return _config_failure(file, out_dir, exc)
    with local_copy(make_path(file.uri, conn_id)) as local:
        request = CohortRequest(
            source=local,
            campaign=campaign,
            mapping=mapping,
            mapping_source=file.mapping_uri,
            source_uri=file.uri,
            source_type="file_upload" if "://" not in file.uri else "object_storage",
            name=file.name,
            sql_dir=Path(settings.sql_dir),
        )
        return process_cohort(request, out_dir)


def _config_failure(file: LandingFile, out_dir: Path, error: ConfigError) -> CohortSummary:
    now = utcnow()
    summary = CohortSummary(
        cohort_id=file.cohort_id,
        campaign_id=file.campaign_id,
        name=file.name,
        source=file.uri,
        sha256=file.sha256,
        created_at=now,
        updated_at=now,
    )
    summary.fail(error.code, error.message)
    write_json_atomic(out_dir / SUMMARY_FILE, summary.to_json())
    write_report(out_dir, summary)
    log.warning("cohort %s (%s) failed: %s", file.cohort_id, file.name, error.message)
    return summary


def publish(
    results: list[dict[str, Any]], settings: Settings | None = None
) -> list[dict[str, Any]]:
    """Register processed cohorts in the catalog, then ledger and archive their files.

    Order matters for crash safety: catalog (one transaction) → ledger → move → mirror. A crash
    in between leaves the file in landing; the next run re-processes it to the same cohort id and
    re-registers it idempotently. The mirror (``COHORTFLOW_WAREHOUSE_MIRROR``) is uploaded last.
    """
    settings = settings or get_settings()
    warehouse = Path(settings.warehouse)
    root = landing_root(settings.landing, settings.landing_conn_id)
    cohorts = [Path(r["cohort_dir"]) for r in results if r["status"] != "duplicate"]
    records = []
    for result in results:
        file = LandingFile.from_xcom(_file_fields(result))
        outcome = _outcome(result["status"])
        records.append(
            FileRecord(
                source=file.uri,
                sha256=file.sha256,
                campaign_id=file.campaign_id,
                cohort_id=file.cohort_id,
                outcome=outcome,
                duplicate_of=result.get("duplicate_of"),
                moved_to=str(archive_target(root, file, outcome)),
            )
        )
    register_cohorts(warehouse, cohorts, records, sql_dir=Path(settings.sql_dir))
    published = []
    for result, record in zip(results, records, strict=True):
        file = LandingFile.from_xcom(_file_fields(result))
        summary = _summary_for(result)
        moved_to = archive_file(root, file, record.outcome, summary)
        if record.outcome != "duplicate":
            record_processed(warehouse, file, record.outcome, moved_to)
        published.append({**result, "moved_to": moved_to})
    mirror_warehouse(cohorts, settings)
    return published


def _summary_for(result: dict[str, Any]) -> dict[str, Any]:
    if result["status"] == "duplicate":
        return {
            "status": "duplicate",
            "duplicate_of": result["duplicate_of"],
            "cohort_id": result["cohort_id"],
            "source": result["uri"],
            "note": "same content as an earlier file; not processed again",
        }
    summary_path = Path(result["cohort_dir"]) / "summary.json"
    return CohortSummary.read(summary_path).to_json()


def _outcome(status: str) -> str:
    return {"completed": "processed", "failed": "failed"}.get(status, "duplicate")


def _file_fields(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("uri", "campaign_id", "name", "sha256", "cohort_id", "mapping_uri")
    return {k: result.get(k) for k in keys}


def run_sql_cohort(
    name: str, logical_date: Any, settings: Settings | None = None
) -> dict[str, Any]:
    """Run ``sql/cohorts/<name>.sql`` for one night and process its result into a cohort.

    Returns a small dict (ids, paths, counts, ``status``: ``completed``/``failed``, or
    ``kept`` when the night's cohort was already dispatched and is left as it is).
    """
    settings = settings or get_settings()
    warehouse = Path(settings.warehouse)
    cohort = find_sql_cohort(name, Path(settings.sql_dir) / "cohorts")
    campaign = find_campaign(Path(settings.campaigns), cohort.campaign_id)
    ds = local_date(logical_date, campaign.allowed_schedule.timezone)
    cohort_id = nightly_cohort_id(campaign.campaign_id, cohort.name, ds)
    out_dir = cohort_dir(warehouse, campaign.campaign_id, cohort_id)
    result: dict[str, Any] = {
        "name": cohort.name,
        "ds": ds,
        "campaign_id": campaign.campaign_id,
        "cohort_id": cohort_id,
        "cohort_dir": str(out_dir),
    }
    if already_dispatched(warehouse, campaign.campaign_id, cohort_id):
        log.info("cohort %s (%s %s) already dispatched; kept as it is", cohort_id, name, ds)
        return {**result, "status": "kept"}
    query = render_query(cohort, ds, campaign, warehouse)
    with tempfile.TemporaryDirectory(prefix="cohortflow-nightly-") as scratch:
        csv_path = Path(scratch) / f"{cohort.name}_{ds}.csv"
        with catalog.snapshot(warehouse, Path(scratch)) as snapshot:
            conn = duckdb.connect()
            try:
                if snapshot is not None:
                    conn.execute(f"attach '{snapshot}' as catalog (read_only)")
                run_query(conn, query, csv_path, cohort)
            finally:
                conn.close()
        request = CohortRequest(
            source=csv_path,
            campaign=campaign,
            source_uri=str(cohort.path),
            source_type="sql",
            name=f"{cohort.name} {ds}",
            sql_dir=Path(settings.sql_dir),
            cohort_id=cohort_id,
        )
        summary = process_cohort(request, out_dir)
    return {
        **result,
        "status": summary.status,
        "total_records": summary.total_records,
        "valid_records": summary.valid_records,
        "rejected_records": summary.rejected_records,
        "error": summary.error,
    }


def publish_sql_cohort(result: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """Register the night's cohort in the catalog (replacing that date's earlier run)."""
    if result["status"] == "kept":
        return result
    settings = settings or get_settings()
    register_cohorts(
        Path(settings.warehouse), [Path(result["cohort_dir"])], sql_dir=Path(settings.sql_dir)
    )
    mirror_warehouse([Path(result["cohort_dir"])], settings)
    return result
