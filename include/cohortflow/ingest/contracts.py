"""Output contracts: pandera schemas of what a cohort publishes, and how they are checked.

Recipients and rejections are validated against these before anything is written where other
parts (dispatch, analysts) can see it. A contract failure is a bug in cohortflow, not in the
user's file, so it raises rather than rejecting rows.

Each contract is written once, as column rules (:data:`RECIPIENTS`, :data:`REJECTIONS`), and
checked on the Arrow batches of a file as they are written (pandera's pyarrow backend, in a
thread: :class:`BatchChecks`, which imports pandera); a rule that no batch can judge alone
(uniqueness) is checked over the whole table in SQL.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import pyarrow as pa

from cohortflow.sqlfiles import quote_identifier

if TYPE_CHECKING:
    import pandera.pyarrow as pa_schema

E164_PATTERN = r"^\+[1-9]\d{6,14}$"
REGION_PATTERN = r"^[A-Z]{2}$|^001$"
REASON_PATTERN = (
    r"^(invalid_phone|missing_required:[^:]+|format_error:[^:]+|render_error|do_not_contact"
    r"|duplicate_phone|duplicate_user|malformed_row): "
)


@dataclass(frozen=True)
class ColumnRule:
    """One column of a contract: its type, its checks and whether its values are unique.
    Other columns may be present (variables are extra columns of the recipients)."""

    kind: Literal["integer", "text"]
    minimum: int | None = None
    pattern: str | None = None  # the whole value must match (pandera's str_matches)
    unique: bool = False
    nullable: bool = False


#: ``recipients.parquet``: one row per valid, unique recipient.
RECIPIENTS: Mapping[str, ColumnRule] = {
    "row_number": ColumnRule("integer", minimum=1, unique=True),
    "phone_number": ColumnRule("text", pattern=E164_PATTERN, unique=True),
    "region": ColumnRule("text", pattern=REGION_PATTERN),
}
#: ``recipients.parquet`` of a campaign of users (CometChat): unique by user identifier; a
#: phone (and so a region) only where the cohort has one.
RECIPIENTS_OF_USERS: Mapping[str, ColumnRule] = {
    "row_number": ColumnRule("integer", minimum=1, unique=True),
    "user_identifier": ColumnRule("text", unique=True),
    "phone_number": ColumnRule("text", pattern=E164_PATTERN, nullable=True),
    "region": ColumnRule("text", pattern=REGION_PATTERN, nullable=True),
}
#: ``rejections``: one row per rejected data row, with stable reason codes first.
REJECTIONS: Mapping[str, ColumnRule] = {
    "row_number": ColumnRule("integer", minimum=1, unique=True),
    "rejected_reason": ColumnRule("text", pattern=REASON_PATTERN),
    "reason_code": ColumnRule("text"),
}
CONTRACTS: Mapping[str, Mapping[str, ColumnRule]] = {
    "Recipients": RECIPIENTS,
    "RecipientsOfUsers": RECIPIENTS_OF_USERS,
    "Rejections": REJECTIONS,
}


def rule_checks(check: Any, rule: ColumnRule) -> list[Any]:
    """The rule's checks as pandera ``Check`` objects (``check`` is the backend's class)."""
    checks = []
    if rule.minimum is not None:
        checks.append(check.ge(rule.minimum))
    if rule.pattern is not None:
        checks.append(check.str_matches(rule.pattern))
    return checks


def _arrow_type(rule: ColumnRule) -> Any:
    return pa.int64() if rule.kind == "integer" else pa.string()


@cache
def arrow_schema(name: str) -> pa_schema.DataFrameSchema:
    """Contract ``name`` (a key of :data:`CONTRACTS`) for Arrow tables."""
    import pandera.pyarrow as pa_schema  # here, not at the top: see the docstring

    return pa_schema.DataFrameSchema(
        {column: pa_schema.Column(_arrow_type(rule), rule_checks(pa_schema.Check, rule),
                                  unique=rule.unique, nullable=rule.nullable)
         for column, rule in CONTRACTS[name].items()},
        name=name, strict=False, coerce=False,
    )


class ContractError(ValueError):
    """An output breaks a rule checked over the whole table, such as uniqueness (a bug in
    cohortflow, not in the file)."""


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

    Integers within :data:`BITMAP_SPAN`: one bit per possible value (``bitstring_agg``), far
    cheaper than grouping; other integers are counted as they are. Other values: their 64-bit
    hashes are counted first, and only if a hash repeats, the values themselves (a collision is
    not a duplicate).
    """
    def repeats(key: str) -> int:  # hash(NULL) is a value: NULLs are left out explicitly
        return int(conn.execute(
            f"select count({column}) - count(distinct {key}) filter (where {column} is not null) "
            f"from {table}").fetchall()[0][0])

    if str(conn.sql(f"select {column} from {table}").types[0]) in _INTEGER_TYPES:
        low, high = conn.execute(f"select min({column}), max({column}) from {table}").fetchall()[0]
        if low is None:
            return 0
        if high - low < BITMAP_SPAN:
            return int(conn.execute(
                f"select count({column}) - bit_count(bitstring_agg({column}, {low:d}, {high:d})) "
                f"from {table}").fetchall()[0][0])
        return repeats(column)
    return repeats(column) if repeats(f"hash({column})") else 0


def check_unique_rules(conn: duckdb.DuckDBPyConnection, table: str, contract: str) -> None:
    """Raise :class:`ContractError` unless every column contract ``contract`` (a key of
    :data:`CONTRACTS`) requires to be unique is unique in ``table`` (checked in SQL)."""
    check_unique(conn, table, [column for column, rule in CONTRACTS[contract].items()
                               if rule.unique])


#: Batches a contract's thread may be behind the file's writer.
QUEUED_BATCHES = 8


class BatchChecks:
    """Contract ``contract`` (a key of :data:`CONTRACTS`) but for its uniqueness rules (see
    :func:`check_unique_rules`), checked on the Arrow batches of a file as they are written:
    :meth:`check` queues a batch for a thread of the checks' own, started with the first
    batch (pandera is imported there). :meth:`close` returns a future whose ``result()``
    raises what the checks found (``pandera.errors.SchemaErrors``)."""

    def __init__(self, contract: str, name: str) -> None:
        self.contract, self.name = contract, name
        self._queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=QUEUED_BATCHES)
        self._future: Future[None] = Future()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._ended = False  # the thread has taken the end of the file off the queue

    def check(self, batch: pa.RecordBatch) -> None:
        """Queue ``batch`` (its columns the contract names); waits only while the thread is
        :data:`QUEUED_BATCHES` behind."""
        self._start()
        self._queue.put(pa.Table.from_batches([batch.select(self._columns(batch.schema))]))

    def close(self, schema: pa.Schema | None) -> Future[None]:
        """Queue the end of the file, whose batches have ``schema`` (None: the file was never
        written); a file without rows still has its columns and their types checked. A
        second call returns the same future."""
        if self._closed:
            return self._future
        self._closed = True
        if self._thread is None and schema is not None:
            self._start()
            self._queue.put(schema.empty_table().select(self._columns(schema)))
        if self._thread is None:
            self._future.set_result(None)
        else:
            self._queue.put(None)
        return self._future

    def _columns(self, schema: pa.Schema) -> list[str]:
        """The columns of ``schema`` the contract names (one it names and ``schema`` lacks is
        reported missing by the checks)."""
        return [column for column in CONTRACTS[self.contract] if column in schema.names]

    def _next_tables(self) -> list[pa.Table]:
        """The batches queued so far (waiting for one), checked together: pandera's cost per
        call is paid once for them, not per batch; empty once the file has ended."""
        tables: list[pa.Table] = []
        if self._ended:
            return tables
        item = self._queue.get()
        while item is not None:
            tables.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return tables
        self._ended = True
        return tables

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"cohortflow-contract-{self.name}")
            self._thread.start()

    def _run(self) -> None:
        try:
            schema = arrow_schema(self.contract).update_columns(
                {column: {"unique": False}
                 for column, rule in CONTRACTS[self.contract].items() if rule.unique})
            while tables := self._next_tables():
                schema.validate(pa.concat_tables(tables), lazy=True)
            self._future.set_result(None)
        except BaseException as exc:
            self._future.set_exception(exc)
            # drained to the end of the file, so that check() never waits on a full queue
            while not self._ended and self._queue.get() is not None:
                pass
