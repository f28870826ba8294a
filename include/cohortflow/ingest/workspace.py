"""The DuckDB database one cohort is processed in: a scratch folder (DuckDB's spill files, and
the database file of a large cohort) and a connection with the configured memory limit.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cohortflow.errors import SettingsError
from cohortflow.settings import env_name, get_settings
from cohortflow.sqlfiles import quote_identifier

MEMORY_LIMIT_ENV = env_name("duckdb_memory_limit")


def is_large(source: Path) -> bool:
    """Whether ``source`` is processed in a database file rather than in memory: a large
    cohort's tables can then be evicted to disk, a small one saves writing them."""
    return source.stat().st_size > get_settings().duckdb_on_disk_bytes


#: DuckDB's memory limit unless ``COHORTFLOW_DUCKDB_MEMORY_LIMIT`` sets one. A chunk of the
#: default size (``COHORTFLOW_CHUNK_ROWS``) is processed within it without spilling, and the
#: whole process (Python, Arrow batches) stays under 1 GiB, whatever the file's size.
DEFAULT_MEMORY_LIMIT = "768MB"


def memory_limit() -> str:
    """DuckDB's memory limit: ``COHORTFLOW_DUCKDB_MEMORY_LIMIT``, or
    :data:`DEFAULT_MEMORY_LIMIT` (in memory and on disk alike: a cohort's rows are held a
    chunk at a time either way). Beyond the limit DuckDB spills to the scratch folder."""
    return get_settings().duckdb_memory_limit or DEFAULT_MEMORY_LIMIT


#: DuckDB checkpoints a database once a commit leaves this much behind (16 MB by default); the
#: scratch database is thrown away after the cohort, so a checkpoint of it would only cost.
CHECKPOINT_THRESHOLD = "1TB"


def connect(scratch: Path, *, on_disk: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection that spills into ``scratch`` (and keeps its database there when
    ``on_disk``), never checkpointed; an unusable memory limit is a :class:`SettingsError`."""
    limit = memory_limit()
    try:
        return duckdb.connect(str(scratch / "work.duckdb") if on_disk else ":memory:", config={
            "temp_directory": str(scratch / "spill"),
            "memory_limit": limit,
            "checkpoint_threshold": CHECKPOINT_THRESHOLD,
        })
    except (duckdb.ParserException, duckdb.InvalidInputException) as exc:
        raise SettingsError(
            f"{MEMORY_LIMIT_ENV}={limit!r} is not a memory size DuckDB accepts "
            f"({str(exc).splitlines()[0]}); set it to a size such as 768MB or 2GB, or unset it"
        ) from None


@dataclass
class Workspace:
    """An open connection and the scratch folder it uses; :meth:`close` removes both."""

    conn: duckdb.DuckDBPyConnection
    on_disk: bool
    _scratch: tempfile.TemporaryDirectory[str]

    @classmethod
    def open(cls, source: Path) -> Workspace:
        """A new workspace sized for ``source`` (in memory, or on disk when it is large)."""
        on_disk = is_large(source)
        scratch = tempfile.TemporaryDirectory(prefix="cohortflow-")
        try:
            conn = connect(Path(scratch.name), on_disk=on_disk)
        except BaseException:
            scratch.cleanup()
            raise
        return cls(conn, on_disk, scratch)

    def close(self) -> None:
        """Close the connection, then remove the scratch folder."""
        try:
            self.conn.close()
        finally:
            self._scratch.cleanup()


def drop_tables(conn: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Free intermediate tables (or views, or registered Arrow tables) once used."""
    for name in names:
        try:
            conn.execute(f"drop table if exists {quote_identifier(name)}")
        except duckdb.CatalogException:  # a view, or a registered Arrow table
            try:
                conn.execute(f"drop view if exists {quote_identifier(name)}")
            except duckdb.CatalogException:
                conn.unregister(name)


@contextmanager
def any_row_order(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Let DuckDB fill the tables of the statements run inside in any row order (every thread
    inserts at once instead of in turn); a statement with an ORDER BY still keeps its order.
    Only for tables read by key (``row_number``), never for what is paired row by row with
    ``chunk_raw`` or written out in file order without an ORDER BY."""
    conn.execute("set preserve_insertion_order = false")
    try:
        yield
    finally:
        conn.execute("reset preserve_insertion_order")
