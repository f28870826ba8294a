"""The warehouse mirror: after each publish, copy what changed to an object store.

DuckDB writes a local file, so the warehouse itself stays a local (or shared) folder; with
``COHORTFLOW_WAREHOUSE_MIRROR=s3://bucket/prefix`` (and ``COHORTFLOW_WAREHOUSE_MIRROR_CONN_ID``
naming an Airflow connection) every publish also uploads the cohorts it published and a
consistent copy of the catalog, through Airflow's ``ObjectStoragePath``. Analysts download
``<mirror>/cohortflow.duckdb`` (or attach it read-only with DuckDB's httpfs) and read the
cohort folders beside it. Without the setting nothing happens: the local code path is unchanged.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cohortflow.settings import Settings, get_settings
from cohortflow.warehouse import catalog
from cohortflow.warehouse.paths import CATALOG_NAME, storage_path

log = logging.getLogger(__name__)


def _upload(source: Path, target: Any) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, length=1024 * 1024)


def mirror_warehouse(
    cohort_dirs: Iterable[Path] = (), settings: Settings | None = None
) -> list[str]:
    """Upload ``cohort_dirs`` (every file in each) and the catalog; returns the URLs written.

    Does nothing (returns ``[]``) when no mirror is configured. Idempotent: files are
    overwritten with their current content.
    """
    settings = settings or get_settings()
    if not settings.warehouse_mirror:
        return []
    warehouse = Path(settings.warehouse)
    root = storage_path(settings.warehouse_mirror, settings.warehouse_mirror_conn_id)
    written = []
    for folder in cohort_dirs:
        relative = folder.relative_to(warehouse)
        target_dir = root / str(relative)
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            target = target_dir / path.name
            _upload(path, target)
            written.append(str(target))
    with (
        tempfile.TemporaryDirectory(prefix="cohortflow-mirror-") as scratch,
        catalog.snapshot(warehouse, Path(scratch)) as copy,
    ):
        if copy is not None:
            _checkpoint(copy)
            target = root / CATALOG_NAME
            _upload(copy, target)
            written.append(str(target))
    log.info("mirrored %d files to %s", len(written), settings.warehouse_mirror)
    return written


def _checkpoint(path: Path) -> None:
    """Fold the copy's write-ahead log into the file, so the one file is the whole catalog."""
    import duckdb

    with duckdb.connect(str(path)) as conn:
        conn.execute("checkpoint")
