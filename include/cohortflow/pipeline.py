"""The ingest pipeline over the landing area: discover → process (per file) → publish.

``cohort_ingest`` runs these three functions as tasks (process mapped per file, publish in the
1-slot ``warehouse_writer`` pool); ``cohortflow ingest`` runs them in one process. Tasks pass
small dicts (ids, paths, counts), never data.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cohortflow.config import find_campaign, load_mapping
from cohortflow.errors import ConfigError
from cohortflow.ingest import CohortRequest, process_cohort
from cohortflow.landing import (
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
from cohortflow.settings import Settings, get_settings
from cohortflow.summary import CohortSummary, write_json_atomic
from cohortflow.warehouse import FileRecord, register_cohorts
from cohortflow.warehouse_paths import cohort_dir
from cohortflow.warehouse_sync import mirror_warehouse

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
    from cohortflow.ingest import SUMMARY_FILE, _utcnow
    from cohortflow.report import write_report

    now = _utcnow()
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
