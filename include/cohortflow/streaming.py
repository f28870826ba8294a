"""Contracts and artefacts for cohorts of any size, without loading them into Python at once.

An output is materialised as a DuckDB table (which spills to disk beyond the memory limit) and
written with DuckDB's ``COPY`` to a temporary Parquet file. That file, exactly what will be
published, is then validated against its pandera contract in a background thread, one Arrow
batch of :data:`CHUNK_ROWS` rows at a time (pandera's pyarrow backend: pyarrow decodes the batch
and runs the checks, both releasing the GIL; no pandas), while the caller writes the next
artefact. Uniqueness, which no batch can judge alone, is checked over the whole table in SQL.
The caller publishes (renames) the files only once every check has passed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from cohortflow.sqlfiles import quote_identifier

if TYPE_CHECKING:  # pandera is imported by the contracts (see ingest._preload_contracts)
    import pandera.pyarrow as pa

CHUNK_ROWS = 1_000_000  # one batch of three columns: tens of MiB as Arrow


class ContractError(ValueError):
    """An output breaks a rule checked over the whole table, such as uniqueness (a bug in
    cohortflow, not in the file)."""


#: Distinct values per column and row group beyond which a column is written PLAIN rather
#: than dictionary-encoded. DuckDB's default lets it build dictionaries of many more values
#: before it gives up on a column of mostly unique values (numbers, messages, ids): with this
#: limit the 1M-row benchmark's recipients file is the same, byte for byte, and written in
#: 0.30 s instead of 0.33 s (medians of 11). A column of more distinct values per row group
#: (122,880 rows) is left to zstd.
DICTIONARY_VALUES = 4096


def write_parquet(conn: duckdb.DuckDBPyConnection, table: str, path: Path) -> None:
    """Write ``table`` (in its stored order) to ``path`` as zstd parquet (the caller writes to
    a temporary name and renames once the contracts have passed).

    Level 1 writes about 30% faster than the default level 3 for the same size here."""
    target = str(path).replace("'", "''")
    conn.execute(
        f"copy (select * from {quote_identifier(table)}) to '{target}' "
        "(format parquet, compression zstd, compression_level 1, "
        f"dictionary_size_limit {DICTIONARY_VALUES:d})"
    )


def unique_columns(schema: pa.DataFrameSchema) -> list[str]:
    """The columns ``schema`` requires to hold no duplicate value."""
    return [name for name, column in schema.columns.items() if column.unique]


#: Integer columns whose values span at most this many are checked with a bitmap of one bit
#: per value (16 MiB at most).
BITMAP_SPAN = 2**27
_INTEGER_TYPES = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT",
                            "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"})


def check_unique(conn: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str]) -> None:
    """Raise :class:`ContractError` for the first of ``columns`` of ``table`` that holds a
    value more than once."""
    for column in columns:
        repeated = _repeated(conn, quote_identifier(table), quote_identifier(column))
        if repeated:
            raise ContractError(f"{table}: {repeated} duplicate value(s) in {column}")


def _repeated(conn: duckdb.DuckDBPyConnection, table: str, column: str) -> int:
    """How many non-null values of ``column`` repeat an earlier one (count minus distinct).

    Integers within :data:`BITMAP_SPAN`: one bit per possible value (``bitstring_agg``), 25
    times faster than grouping at 9M rows. Other values: their 64-bit hashes are counted
    (faster than the strings themselves: 0.63 s for 9M numbers, against 0.84 s grouping them
    with ``having``), and only if a hash repeats, the values (a collision is not a duplicate).
    """
    if str(conn.sql(f"select {column} from {table}").types[0]) in _INTEGER_TYPES:
        low, high = conn.execute(f"select min({column}), max({column}) from {table}").fetchall()[0]
        if low is None:
            return 0
        if high - low < BITMAP_SPAN:
            return int(conn.execute(
                f"select count({column}) - bit_count(bitstring_agg({column}, {low:d}, {high:d})) "
                f"from {table}").fetchall()[0][0])

    def repeats(key: str) -> int:  # hash(NULL) is a value: NULLs are left out explicitly
        return int(conn.execute(
            f"select count({column}) - count(distinct {key}) filter (where {column} is not null) "
            f"from {table}").fetchall()[0][0])

    return repeats(column) if repeats(f"hash({column})") else 0


def validate_parquet(
    path: Path, schema: pa.DataFrameSchema, *, chunk_rows: int = CHUNK_ROWS
) -> None:
    """Validate the Parquet file at ``path`` against ``schema`` (the columns it names only),
    ``chunk_rows`` rows at a time; raises ``pandera.errors.SchemaErrors``. A batch cannot see
    duplicates in another batch: pass a schema without uniqueness rules when the file may
    hold more than one batch, and check those with :func:`check_unique`."""
    import pyarrow
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    columns = list(schema.columns)
    validated = False
    for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
        schema.validate(pyarrow.Table.from_batches([batch]), lazy=True)
        validated = True
    if not validated:  # no rows: the columns and their types are still checked
        schema.validate(parquet.schema_arrow.empty_table().select(columns), lazy=True)


def start_validation(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    path: Path,
    schema: pa.DataFrameSchema,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> Future[None]:
    """Check ``path``, the Parquet file just written from ``table``, against ``schema``.

    Uniqueness is checked now, over ``table`` in SQL (a :class:`ContractError` is raised here);
    every other rule in a thread, batch by batch, over the file. The future's ``result()``
    raises what that thread raised (``pandera.errors.SchemaErrors``).
    """
    unique = unique_columns(schema)
    per_batch = schema.update_columns({column: {"unique": False} for column in unique})
    future: Future[None] = Future()

    def validate() -> None:
        try:
            validate_parquet(path, per_batch, chunk_rows=chunk_rows)
            future.set_result(None)
        except Exception as exc:
            future.set_exception(exc)

    threading.Thread(target=validate, name=f"cohortflow-validate-{table}", daemon=True).start()
    try:
        check_unique(conn, table, unique)
    except BaseException:
        future.exception()  # let the thread finish with the file before the caller removes it
        raise
    return future
