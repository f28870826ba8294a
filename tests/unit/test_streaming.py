"""Output contracts on whole tables and in chunks, and nothing published when one fails."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pandera.errors
import pytest

from cohortflow import contracts, streaming
from tests.unit.helpers import make_campaign, run, write_text

COLUMNS = ["row_number", "phone_number", "region"]


def _recipients(rows: list[tuple[int, str, str]]) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("create table recipients_out (row_number bigint, phone_number varchar, "
                 "region varchar)")
    conn.executemany("insert into recipients_out values (?, ?, ?)", rows)
    return conn


def _start(conn: duckdb.DuckDBPyConnection, *, whole: bool) -> None:
    # whole: one frame in a thread; otherwise chunks of 2 rows plus the SQL uniqueness check
    streaming.start_validation(
        conn, "recipients_out", COLUMNS, contracts.validate_recipients,
        unique=["row_number", "phone_number"],
        whole_table_rows=10 if whole else 0, chunk_rows=2,
    ).result()


GOOD = [(1, "+919876543210", "IN"), (2, "+14155550123", "US"), (3, "+447911123456", "GB")]


@pytest.mark.parametrize("whole", [True, False])
def test_valid_table_passes(whole: bool) -> None:
    _start(_recipients(GOOD), whole=whole)


@pytest.mark.parametrize("whole", [True, False])
def test_broken_contract_raises(whole: bool) -> None:
    conn = _recipients([*GOOD, (4, "98765 43210", "IN")])  # not E.164
    with pytest.raises(pandera.errors.SchemaErrors):
        _start(conn, whole=whole)


@pytest.mark.parametrize("whole", [True, False])
def test_duplicates_in_different_chunks_are_found(whole: bool) -> None:
    # rows 1 and 4 fall in different chunks of 2 rows: only the whole-table checks see both
    conn = _recipients([*GOOD, (4, "+919876543210", "IN")])
    with pytest.raises((streaming.ContractError, pandera.errors.SchemaErrors)):
        _start(conn, whole=whole)


def test_nothing_is_published_when_a_contract_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(frame: pd.DataFrame) -> None:
        raise streaming.ContractError("recipients_out: deliberately broken for this test")

    monkeypatch.setattr(contracts, "validate_recipients", broken)
    source = write_text(tmp_path, "cohort.csv",
                        "phone,name\n+919876543210,Asha\n+14155550123,Ravi\nnot a phone,Meena\n")
    with pytest.raises(streaming.ContractError, match="deliberately broken"):
        run(source, campaign=make_campaign(), infer=True)
    out_dir = tmp_path / "out"
    assert sorted(p.name for p in out_dir.iterdir()) == [], "no artefact, no temporary file"
