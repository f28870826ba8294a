"""Append-only JSON ledgers: one file per record, created once and never rewritten.

A record is written to a temporary file, flushed and fsynced, then *linked* to its final name.
Linking fails when the name exists, so two writers racing for the same record cannot overwrite
each other and a crash leaves either the whole record or nothing (never half a file).
Readers ignore temporary files. The folder is fsynced after each record so the name survives a
power cut too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_TMP_PREFIX = ".tmp-"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def append_record(folder: Path, name: str, record: dict[str, Any]) -> bool:
    """Create ``folder/name`` holding ``record`` as JSON; False when it already existed.

    ``name`` must be unique per record (callers derive it from the record's identity), which
    makes writing the same record twice a harmless no-op.
    """
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    if final.exists():
        return False
    fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, sort_keys=True, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, final)
        except FileExistsError:
            return False
        _fsync_dir(folder)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def append_event(folder: Path, record: dict[str, Any], at: datetime) -> dict[str, Any]:
    """Append ``record`` (which has a ``status``) as the next numbered event of ``folder``,
    ``NNNNNN-<status>.json``, stamped ``at`` (an aware datetime, stored in UTC). The caller
    holds the folder's lock (:func:`folder_lock`), so numbers do not collide."""
    stamped = record | {"at": at.astimezone(UTC).isoformat(timespec="seconds")}
    count = len(read_records(folder))
    append_record(folder, f"{count + 1:06d}-{record['status']}.json", stamped)
    return stamped


def read_records(folder: Path, pattern: str = "*.json") -> list[dict[str, Any]]:
    """Every record in ``folder`` matching ``pattern``, in file-name order."""
    if not folder.is_dir():
        return []
    records = []
    for path in sorted(folder.glob(pattern)):
        if path.name.startswith(_TMP_PREFIX):
            continue
        with path.open(encoding="utf-8") as handle:
            records.append(json.load(handle))
    return records


@contextlib.contextmanager
def folder_lock(folder: Path, *, name: str = ".lock", wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on the file ``folder/name`` (e.g. while choosing the next batch
    numbers); yields True once held. With ``wait=False`` it yields False at once when another
    process holds it. The operating system releases it when the holder dies."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("a+") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
