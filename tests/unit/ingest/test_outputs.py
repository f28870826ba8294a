"""Output contracts on the written files, batch by batch, uniqueness over the whole table, and
nothing published when one fails."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pandera.errors
import pytest

from cohortflow.ingest import contracts
from cohortflow.ingest.parquet_files import ParquetOutput, insert_column
from cohortflow.warehouse import ARTEFACTS
from tests.unit.helpers import make_campaign, run, write_text

COLUMNS = ["row_number", "phone_number", "region"]


def _recipients(rows: list[tuple[int, str, str]]) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("create table recipients_out (row_number bigint, phone_number varchar, "
                 "region varchar)")
    if rows:
        conn.executemany("insert into recipients_out values (?, ?, ?)", rows)
    return conn


def write_parquet(conn: duckdb.DuckDBPyConnection, table: str, path: Path, *,
                  batch_rows: int = 2) -> None:
    output = ParquetOutput(path)
    output.write(conn.sql(f"select * from {table}").to_arrow_reader(batch_rows))
    output.close()


def _check(conn: duckdb.DuckDBPyConnection, *, batch_rows: int) -> None:
    # batch_rows 2: the checks see batches of 2 rows, which cannot see each other
    contracts.check_unique_rules(conn, "recipients_out", "Recipients")
    checks = contracts.BatchChecks("Recipients", "recipients")
    batches = conn.sql("select * from recipients_out").to_arrow_reader(batch_rows)
    for batch in batches:
        if batch.num_rows:
            checks.check(batch)
    checks.close(batches.schema).result()


def parquet_of(tmp_path: Path, query: str) -> Path:
    """The rows of ``query`` written as ParquetOutput writes a cohort's, in batches of 1,000."""
    conn = duckdb.connect()
    conn.execute(f"create table t as {query}")
    path = tmp_path / "t.parquet"
    write_parquet(conn, "t", path, batch_rows=1000)
    return path


GOOD = [(1, "+919876543210", "IN"), (2, "+14155550123", "US"), (3, "+447911123456", "GB")]


@pytest.mark.parametrize("batch_rows", [2, 10])
def test_valid_table_passes(batch_rows: int) -> None:
    _check(_recipients(GOOD), batch_rows=batch_rows)


def test_empty_table_passes() -> None:
    _check(_recipients([]), batch_rows=2)


def test_an_empty_table_still_has_its_column_types_checked() -> None:
    conn = duckdb.connect()
    conn.execute("create table recipients_out (row_number varchar, phone_number varchar, "
                 "region varchar)")  # row_number must be an integer
    with pytest.raises(pandera.errors.SchemaErrors, match="row_number"):
        _check(conn, batch_rows=2)


@pytest.mark.parametrize("batch_rows", [2, 10])
def test_broken_contract_raises(batch_rows: int) -> None:
    conn = _recipients([*GOOD, (4, "98765 43210", "IN")])  # not E.164
    with pytest.raises(pandera.errors.SchemaErrors, match="str_matches"):
        _check(conn, batch_rows=batch_rows)


def test_a_failed_check_never_blocks_the_writer() -> None:
    # the first batch fails: the thread goes on taking batches (more than it may queue)
    checks = contracts.BatchChecks("Recipients", "recipients")
    conn = _recipients([(1, "not e164", "IN")])
    batch = next(iter(conn.sql("select * from recipients_out").to_arrow_reader(10)))
    for _ in range(contracts.QUEUED_BATCHES * 3):
        checks.check(batch)
    with pytest.raises(pandera.errors.SchemaErrors):
        checks.close(batch.schema).result(timeout=20)


def test_a_broken_batch_among_batches_checked_together_is_found() -> None:
    # batches queued while the thread is busy are checked in one call: a bad one in the
    # middle of them still fails the file
    checks = contracts.BatchChecks("Recipients", "recipients")
    good = next(iter(_recipients(GOOD).sql("select * from recipients_out").to_arrow_reader(10)))
    bad = next(iter(_recipients([(4, "98765 43210", "IN")]).sql(
        "select * from recipients_out").to_arrow_reader(10)))
    for index in range(contracts.QUEUED_BATCHES * 3):
        checks.check(bad if index == contracts.QUEUED_BATCHES * 2 else good)
    with pytest.raises(pandera.errors.SchemaErrors, match="str_matches"):
        checks.close(good.schema).result(timeout=20)


@pytest.mark.parametrize("batch_rows", [2, 10])
def test_duplicate_phone_in_different_batches_is_found(batch_rows: int) -> None:
    # rows 1 and 4 fall in different batches of 2 rows: only the whole-table check sees both
    conn = _recipients([*GOOD, (4, "+919876543210", "IN")])
    with pytest.raises(contracts.ContractError, match=r"1 duplicate value\(s\) in phone_number"):
        _check(conn, batch_rows=batch_rows)


def test_duplicate_row_number_is_found() -> None:
    conn = _recipients([*GOOD, (1, "+14155550124", "US")])
    with pytest.raises(contracts.ContractError, match=r"1 duplicate value\(s\) in row_number"):
        _check(conn, batch_rows=2)


@pytest.mark.parametrize(
    ("values", "duplicates"),
    [
        ([1, 2, 3], 0),
        ([1, 2, 2, 2, None, None], 2),
        ([5, 10**12, 5], 1),  # a span too wide for the bitmap: the values counted instead
        ([5, 10**12, None, None], 0),
        (["a", "b", "a", None], 1),
        (["a", "b", None, None], 0),  # NULLs are no duplicates (hash(NULL) is a value)
        (["a", "a", "a", "b", "b"], 3),
        ([], 0),
    ],
)
def test_check_unique_counts_repeated_values(values: list[object], duplicates: int) -> None:
    conn = duckdb.connect()
    kind = "varchar" if any(isinstance(v, str) for v in values) else "bigint"
    conn.execute(f"create table t (v {kind})")
    if values:
        conn.executemany("insert into t values (?)", [(v,) for v in values])
    if duplicates:
        with pytest.raises(contracts.ContractError, match=f"t: {duplicates} duplicate value"):
            contracts.check_unique(conn, "t", ["v"])
    else:
        contracts.check_unique(conn, "t", ["v"])


def test_nothing_is_published_when_a_contract_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(name: str) -> object:
        raise contracts.ContractError(f"{name}: deliberately broken for this test")

    monkeypatch.setattr(contracts, "arrow_schema", broken)
    source = write_text(tmp_path, "cohort.csv",
                        "phone,name\n+919876543210,Asha\n+14155550123,Ravi\nnot a phone,Meena\n")
    with pytest.raises(contracts.ContractError, match="deliberately broken"):
        run(source, campaign=make_campaign(), infer=True)
    out_dir = tmp_path / "out"
    assert sorted(p.name for p in out_dir.iterdir()) == [], "no artefact, no temporary file"


def test_the_workspace_is_closed_while_the_contracts_are_still_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cohortflow.ingest import workspace

    closed = threading.Event()
    schema, close = contracts.arrow_schema, workspace.Workspace.close

    def schema_once_closed(name: str) -> object:
        if not closed.wait(timeout=20):
            raise AssertionError("the workspace stayed open until the contracts were checked")
        return schema(name)

    def close_and_tell(self: workspace.Workspace) -> None:
        close(self)
        closed.set()

    monkeypatch.setattr(contracts, "arrow_schema", schema_once_closed)
    monkeypatch.setattr(workspace.Workspace, "close", close_and_tell)
    source = write_text(tmp_path, "cohort.csv", "phone,name\n+919876543210,Asha\nbad,Meena\n")

    outcome = run(source, campaign=make_campaign(), infer=True)

    assert outcome.published
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted((*ARTEFACTS, "report.html"))


def test_a_file_is_written_batch_by_batch_in_order(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    conn = duckdb.connect()
    conn.execute("create table t as select i, 'region ' || (i % 7) as few, "
                 "'+91' || (9000000000 + i) as unique_values from range(100000) r(i)")
    path = tmp_path / "t.parquet"
    output = ParquetOutput(path)
    for first in range(0, 100000, 30000):  # chunk after chunk, as a cohort's are written
        output.write(conn.sql(f"select * from t where i >= {first} and i < {first + 30000} "
                              "order by i").to_arrow_reader(4096))
    output.close()

    assert output.rows == 100_000
    assert pq.read_table(path).column("i").to_pylist() == list(range(100_000))
    row_group = pq.ParquetFile(path).metadata.row_group(0)
    assert row_group.num_rows <= 4096
    assert "RLE_DICTIONARY" in row_group.column(1).encodings  # few values: a dictionary


def test_a_writer_thread_failure_is_raised_on_close(tmp_path: Path) -> None:
    conn = duckdb.connect()
    output = ParquetOutput(tmp_path / "t.parquet")
    output.write(conn.sql("select 1 as a").to_arrow_reader(10))
    output.write(conn.sql("select 'x' as b").to_arrow_reader(10))  # another schema

    with pytest.raises(ValueError, match="schema"):
        output.close()


def test_a_column_is_inserted_by_key_in_every_row_group(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = parquet_of(tmp_path, "select i as row_number, 'IN' as region, 'x' as name "
                                "from range(1, 10001) r(i)")
    values = pa.table({"row_number": [5, 9999], "phone_extension": ["12", "7"]})

    insert_column(path, "region", "phone_extension", values, "row_number")

    table = pq.read_table(path)
    assert table.column_names == ["row_number", "region", "phone_extension", "name"]
    extensions = dict(zip(table.column("row_number").to_pylist(),
                          table.column("phone_extension").to_pylist(), strict=True))
    assert {k: v for k, v in extensions.items() if v} == {5: "12", 9999: "7"}
    assert table.num_rows == 10_000


def test_row_numbers_are_delta_encoded_and_only_keys_carry_statistics(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = parquet_of(tmp_path, "select i as row_number, '+91' || (9000000000 + i) as "
                                "phone_number, 'Asha ' || i as name from range(1, 5001) r(i)")
    insert_column(path, "phone_number", "phone_extension",
                  pa.table({"row_number": [7], "phone_extension": ["12"]}), "row_number")

    metadata = pq.ParquetFile(path).metadata
    for index in range(metadata.num_row_groups):
        row_number, phone, extension, name = (metadata.row_group(index).column(column)
                                              for column in range(4))
        assert "DELTA_BINARY_PACKED" in row_number.encodings
        assert row_number.statistics.has_min_max and phone.statistics.has_min_max
        assert extension.statistics is None and name.statistics is None
    assert pq.read_table(path).column("row_number").to_pylist() == list(range(1, 5001))
