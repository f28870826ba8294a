"""The landing area: finding new cohort files, and archiving them once published.

Layout: ``<landing>/<campaign_id>/<file>`` with an optional ``<stem>.mapping.json`` beside the
file. Processed files move to ``<landing>/../archive/<campaign_id>/`` (failed ones to
``failed/``) with their summary beside them. A file is new when its content hash is not yet in
the processed-files ledger, so a file is processed once however often it is dropped.

The landing root may be a local folder or any fsspec URL: inside Airflow it is an
``ObjectStoragePath`` (``s3://bucket/prefix`` with a connection); locally a ``pathlib.Path``.
Both offer the small path API used here (``iterdir``, ``open``, ``name``, ``unlink``).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from cohortflow.ingest.identity import cohort_id_for, file_sha256
from cohortflow.ingest.readers import SUPPORTED_SUFFIXES
from cohortflow.warehouse.paths import ledger_dir, safe_component, storage_path
from cohortflow.warehouse.summary import write_json_atomic

MAPPING_SUFFIX = ".mapping.json"
READY_SUFFIX = ".ready"
log = logging.getLogger(__name__)
_CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class PathLike(Protocol):
    """The part of ``pathlib.Path`` / ``ObjectStoragePath`` the landing code uses."""

    @property
    def name(self) -> str: ...
    def iterdir(self) -> Iterator[Any]: ...
    def is_dir(self) -> bool: ...
    def is_file(self) -> bool: ...
    def open(self, mode: str = ...) -> Any: ...
    def unlink(self) -> None: ...
    def __truediv__(self, other: str) -> Any: ...


@dataclass(frozen=True)
class LandingFile:
    """A cohort file found in the landing area, identified by its content hash."""

    uri: str  # where it is (path or URL)
    campaign_id: str
    name: str
    sha256: str
    cohort_id: str
    mapping_uri: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        """Small JSON-able dict for passing between tasks."""
        return asdict(self)

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> LandingFile:
        """Inverse of :meth:`to_xcom`."""
        return cls(**data)


def landing_root(location: str, conn_id: str | None = None) -> Any:
    """The landing root as a path object: ``ObjectStoragePath`` for URLs, else ``Path``."""
    return storage_path(location, conn_id)


def make_path(uri: str, conn_id: str | None = None) -> Any:
    """A path object for a file URI recorded by :func:`discover`."""
    return storage_path(uri, conn_id)


def is_cohort_file(name: str) -> bool:
    """Whether a landing entry is a cohort file (not a mapping, marker or hidden file)."""
    lowered = name.lower()
    return (
        not name.startswith((".", "_", "~$"))
        and not lowered.endswith(MAPPING_SUFFIX)
        and lowered.endswith(SUPPORTED_SUFFIXES)
    )


def discover(
    root: Any,
    *,
    campaign_id: str | None = None,
    only: str | None = None,
    settle_seconds: float = 0.0,
) -> list[LandingFile]:
    """Every complete cohort file under ``root`` (one subfolder per campaign), hashed.

    ``campaign_id`` limits the search to one campaign; ``only`` to one file name or path.
    Folder names that are not valid campaign ids are skipped. A file is complete when a marker
    says so (``<name>.ready`` beside it, or ``_SUCCESS`` in its folder) or when its size and
    modification time are the same in two looks ``settle_seconds`` apart; a file still being
    written is left for the next run.
    """
    candidates = list(_candidates(root, campaign_id, only))
    unmarked = [entry for folder, entry in candidates if not _has_marker(folder, entry)]
    if unmarked and settle_seconds > 0:
        first_look = {str(entry): _fingerprint(entry) for entry in unmarked}
        time.sleep(settle_seconds)
        growing = {str(e) for e in unmarked if _fingerprint(e) != first_look[str(e)]}
    else:
        growing = set()
    found = []
    for folder, entry in candidates:
        if str(entry) in growing:
            log.info("%s is still being written; it will be taken on the next run", entry.name)
            continue
        sha = file_sha256(entry)  # local Path or ObjectStoragePath: both open("rb")
        mapping = folder / (entry.name.rsplit(".", 1)[0] + MAPPING_SUFFIX)
        found.append(
            LandingFile(
                uri=str(entry),
                campaign_id=folder.name,
                name=entry.name,
                sha256=sha,
                cohort_id=cohort_id_for(folder.name, sha),
                mapping_uri=str(mapping) if mapping.is_file() else None,
            )
        )
    return found


def _candidates(root: Any, campaign_id: str | None, only: str | None) -> Iterator[tuple[Any, Any]]:
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir(), key=lambda p: p.name):
        if not folder.is_dir() or not _CAMPAIGN_ID.match(folder.name):
            continue
        if campaign_id is not None and folder.name != campaign_id:
            continue
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if not entry.is_file() or not is_cohort_file(entry.name):
                continue
            if only is not None and only not in (entry.name, str(entry)):
                continue
            yield folder, entry


def _has_marker(folder: Any, entry: Any) -> bool:
    return bool((folder / f"{entry.name}{READY_SUFFIX}").exists() or (folder / "_SUCCESS").exists())


def _fingerprint(entry: Any) -> tuple[int, float]:
    try:
        stat = entry.stat()
    except FileNotFoundError:
        return (-1, -1.0)
    return (int(stat.st_size), float(getattr(stat, "st_mtime", 0.0) or 0.0))


# --------------------------------------------------------------------------- ledger


def _ledger_entry(warehouse: Path, cohort_id: str) -> Path:
    return ledger_dir(warehouse, "processed_files") / f"{safe_component(cohort_id)}.json"


def processed_entry(warehouse: Path, cohort_id: str) -> dict[str, Any] | None:
    """The ledger record of a cohort already processed from some file, if any."""
    path = _ledger_entry(warehouse, cohort_id)
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def record_processed(warehouse: Path, file: LandingFile, status: str, moved_to: str | None) -> None:
    """Append the file to the processed-files ledger (first writer wins; idempotent)."""
    path = _ledger_entry(warehouse, file.cohort_id)
    if path.exists():
        return
    write_json_atomic(path, {**file.to_xcom(), "status": status, "moved_to": moved_to})


# --------------------------------------------------------------------------- local copies


@contextmanager
def local_copy(path: Any) -> Iterator[Path]:
    """A local file with the content of ``path`` (the path itself when it is local)."""
    if isinstance(path, Path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="cohortflow-landing-") as scratch:
        local = Path(scratch) / safe_component(path.name)  # messages name the original file
        with path.open("rb") as source, local.open("wb") as target:
            shutil.copyfileobj(source, target, length=1024 * 1024)
        yield local


def destination_folder(root: Any, outcome: str, campaign_id: str) -> Any:
    """``archive/<campaign>`` or ``failed/<campaign>`` beside the landing root."""
    folder = "failed" if outcome == "failed" else "archive"
    return root.parent / folder / safe_component(campaign_id)


def archive_target(root: Any, file: LandingFile, outcome: str) -> Any:
    """Where :func:`archive_file` puts ``file`` (its name prefixed with the cohort id)."""
    folder = destination_folder(root, outcome, file.campaign_id)
    return folder / f"{file.cohort_id}__{safe_component(file.name)}"


def archive_file(root: Any, file: LandingFile, outcome: str, summary: dict[str, Any]) -> str:
    """Move a processed file (and its mapping) out of the landing area, summary beside it.

    The archived name keeps the original name, prefixed with the cohort id so files of the
    same name never overwrite each other. Returns where the file went.
    """
    source = make_path(file.uri) if isinstance(root, Path) else root / file.campaign_id / file.name
    target = archive_target(root, file, outcome)
    target_dir = target.parent
    base = target.name
    _mkdir(target_dir)
    summary_target = target_dir / f"{base}.summary.json"
    with summary_target.open("w") as handle:
        handle.write(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    _move(source, target)
    if file.mapping_uri is not None:
        mapping = (
            make_path(file.mapping_uri)
            if isinstance(root, Path)
            else (root / file.campaign_id / file.mapping_uri.rsplit("/", 1)[-1])
        )
        if mapping.is_file():
            _move(mapping, target_dir / f"{base}{MAPPING_SUFFIX}")
    marker = source.parent / f"{file.name}{READY_SUFFIX}"
    if marker.exists():
        marker.unlink()
    return str(target)


def _mkdir(path: Any) -> None:
    if isinstance(path, Path):
        path.mkdir(parents=True, exist_ok=True)
    else:
        path.mkdir(parents=True, exist_ok=True)


def _move(source: Any, target: Any) -> None:
    if isinstance(source, Path) and isinstance(target, Path):
        if source.exists():
            source.replace(target)
        return
    if not source.exists():
        return
    with source.open("rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, length=1024 * 1024)
    source.unlink()
