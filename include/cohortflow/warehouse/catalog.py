"""The analysts' DuckDB catalog (``warehouse/cohortflow.duckdb``): opening it safely.

DuckDB allows one writing process at a time. Inside Airflow only tasks in the 1-slot pool
``warehouse_writer`` write; an exclusive file lock beside the catalog also serialises writers
from the CLI or from several machines sharing a folder. Readers open it read-only.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from cohortflow.errors import CohortflowError
from cohortflow.warehouse.paths import catalog_path

WRITER_POOL = "warehouse_writer"


@contextlib.contextmanager
def writer(
    warehouse: Path, *, timeout_seconds: float = 600.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the catalog for writing, holding an exclusive lock for the whole block.

    Everything done inside the block is one transaction: it commits when the block ends and
    rolls back on an exception, so a writer killed mid-write leaves the previous state.
    """
    warehouse.mkdir(parents=True, exist_ok=True)
    lock_path = warehouse / ".catalog.lock"
    with lock_path.open("a+") as lock_file:
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CohortflowError(
                        f"{catalog_path(warehouse)}: another writer held the catalog for more "
                        f"than {timeout_seconds:.0f}s; retry when it has finished",
                        code="catalog_busy",
                    ) from None
                time.sleep(0.1)
        try:
            connection = duckdb.connect(str(catalog_path(warehouse)))
            try:
                connection.execute("begin transaction")
                yield connection
                connection.execute("commit")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    connection.execute("rollback")
                raise
            finally:
                connection.close()
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def reader(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """Open the catalog read-only (fails clearly when it does not exist yet)."""
    path = catalog_path(warehouse)
    if not path.exists():
        raise CohortflowError(
            f"{path}: no catalog yet; run the ingest pipeline first", code="no_catalog"
        )
    return duckdb.connect(str(path), read_only=True)


@contextlib.contextmanager
def snapshot(warehouse: Path, scratch: Path) -> Iterator[Path | None]:
    """A private copy of the catalog taken while no writer holds it (None if there is none).

    Readers that must not block writers (nightly SQL cohorts, the object-store mirror) work
    on the copy. The copy is taken under a shared lock, so it is never half-written.
    """
    source = catalog_path(warehouse)
    if not source.exists():
        yield None
        return
    copy = scratch / source.name
    with (warehouse / ".catalog.lock").open("a+") as lock_file:
        deadline = time.monotonic() + 600
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_SH | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CohortflowError(
                        f"{source}: a writer held the catalog for more than 600s",
                        code="catalog_busy",
                    ) from None
                time.sleep(0.2)
        try:
            shutil.copyfile(source, copy)
            wal = source.with_name(source.name + ".wal")
            if wal.exists():
                shutil.copyfile(wal, copy.with_name(copy.name + ".wal"))
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    yield copy
