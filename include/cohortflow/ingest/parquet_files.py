"""Parquet files written batch by batch: the writer every artefact of a cohort uses.

A chunk's rows come from DuckDB as Arrow batches and go to pyarrow's ``ParquetWriter``, one row
group per batch, in a thread of the file's own: encoding and compressing a batch overlaps the
queries that make the next ones, and no more than :data:`QUEUED_BATCHES` batches of an
artefact wait in memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

#: Rows per row group at most (DuckDB's own size): readers scan row groups in parallel.
ROW_GROUP_ROWS = 122_880
#: Cells per row group at most: a wide file's row groups hold fewer rows, so the writer's
#: memory follows the cells, not the columns times a fixed number of rows.
ROW_GROUP_CELLS = 8_000_000
#: A column's dictionary page may grow to this size before the column is written PLAIN: a
#: column of a few values (regions, amounts) is dictionary-encoded, one of mostly unique
#: values (numbers, messages, ids) is left to zstd without building a large dictionary first.
DICTIONARY_PAGE_BYTES = 32 * 1024
WRITER_OPTIONS = {"compression": "zstd", "compression_level": 1,
                  "dictionary_pagesize_limit": DICTIONARY_PAGE_BYTES}
#: The columns whose min/max statistics are written: those a reader selects ranges or values
#: of. The min/max of free text (names, messages, the rows' JSON) prunes nothing.
STATISTICS_COLUMNS = ("row_number", "phone_number")
#: Integer columns that increase row by row: delta-encoded, not dictionary-encoded.
DELTA_COLUMNS = ("row_number",)


def writer_options(schema: pa.Schema) -> dict[str, object]:
    """The ``ParquetWriter`` options of a file of ``schema`` (see the constants above)."""
    delta = [name for name in DELTA_COLUMNS
             if name in schema.names and pa.types.is_integer(schema.field(name).type)]
    return {
        **WRITER_OPTIONS,
        "use_dictionary": [name for name in schema.names if name not in delta],
        "column_encoding": dict.fromkeys(delta, "DELTA_BINARY_PACKED") or None,
        "write_statistics": [name for name in STATISTICS_COLUMNS if name in schema.names],
    }


def row_group_rows(width: int) -> int:
    """Rows per row group for a table of ``width`` columns (see :data:`ROW_GROUP_CELLS`)."""
    return max(2048, min(ROW_GROUP_ROWS, ROW_GROUP_CELLS // max(width, 1)))


#: Batches a file's writer thread may be behind the queries that make them.
QUEUED_BATCHES = 4


class ParquetOutput:
    """A Parquet file at ``path`` fed with Arrow batches, written by a thread; opened with the
    schema of the first batches it is given, so every later batch must have that schema.
    :meth:`close` waits for the thread and raises what it raised (a full disk, say)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self.schema: pa.Schema | None = None  # of the batches, once a reader was given
        self._queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=QUEUED_BATCHES)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def write(self, batches: pa.RecordBatchReader,
              also: Callable[[pa.RecordBatch], None] | None = None) -> int:
        """Hand every batch of ``batches`` to the writer thread, and to ``also`` (the file's
        contract checks, say); return how many rows."""
        if self._thread is None:
            self.schema = batches.schema
            writer = pq.ParquetWriter(self.path, batches.schema, **writer_options(batches.schema))
            self._thread = threading.Thread(target=self._write_queued, args=(writer,),
                                            name=f"cohortflow-write-{self.path.name}",
                                            daemon=True)
            self._thread.start()
        written = 0
        for batch in batches:
            if batch.num_rows:
                self._put(batch)
                if also is not None:
                    also(batch)
                written += batch.num_rows
        self.rows += written
        return written

    def close(self) -> None:
        """Wait until every batch is written and the file finished (its footer); raise what
        the writer thread raised. A file never given a batch reader is not created."""
        if self._thread is not None:
            try:
                self._put(None)
            finally:  # the thread ends on None, or has ended on an error
                self._thread.join()
                self._thread = None
        if self._error is not None:
            raise self._error

    def _put(self, item: pa.RecordBatch | None) -> None:
        while True:
            if self._error is not None:
                raise self._error
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _write_queued(self, writer: pq.ParquetWriter) -> None:
        try:
            while (batch := self._queue.get()) is not None:
                writer.write_batch(batch)
            writer.close()
        except BaseException as exc:
            self._error = exc


def insert_column(path: Path, after: str, column: str, values: pa.Table, key: str) -> None:
    """Rewrite the Parquet file at ``path`` with the column ``column`` after ``after``: each
    row's value is the one ``values`` (columns ``key`` and ``column``) holds for its ``key``,
    or null. Row group by row group, so only one is in memory at a time."""
    import pyarrow.compute as pc  # here: only this rare rewrite needs it (0.02 s to import)

    source = pq.ParquetFile(path)
    schema = source.schema_arrow
    position = schema.get_field_index(after) + 1
    target_schema = schema.insert(position, pa.field(column, values.schema.field(column).type))
    tmp = path.with_name(path.name + ".rewrite")
    with pq.ParquetWriter(tmp, target_schema, **writer_options(target_schema)) as writer:
        for index in range(source.num_row_groups):
            group = source.read_row_group(index)
            found = pc.index_in(group.column(key), value_set=values.column(key))
            group = group.add_column(position, column, values.column(column).take(found))
            writer.write_table(group)
    source.close()
    tmp.replace(path)
