"""The phone-notes step parses again only cells that may hold an extension: the SQL filter of
sql/ingest/02_phone_candidates.sql must keep every cell in which phonenumbers finds one."""

from __future__ import annotations

from pathlib import Path

import duckdb
import phonenumbers
import pyarrow as pa
import pytest

from cohortflow.ingest.phone_notes import extension_of
from cohortflow.phones import create_phone_lookup
from cohortflow.sqlfiles import render_sql
from tests.unit.phones.spellings import spelled_numbers

SQL_DIR = Path(__file__).parents[3] / "sql"
#: Extensions and second numbers behind the spellings, and text in front of them.
AFTER = ("", " ext 12", " x12", "#12", ";ext=12", ";9876543213", ", 12", " ~12", " anexo 12",
         ";phone-context=+91", ";isub=12")
BEFORE = ("", "tel:", "TEL:", "Mobile: ", "tel:;", "x ")


def candidates(values: list[str]) -> set[str]:
    """The values the candidate filter keeps, each taken as a valid phone of its own row."""
    conn = duckdb.connect()
    conn.register("_values", pa.table({"phone": pa.array(values, pa.string())}))
    conn.execute("create temp table chunk_rows as "
                 "select row_number() over () as row_number, phone as c1 from _values")
    conn.execute("create temp table phone_lookup as "
                 "select row_number, '+10000000000' as e164, false as plain from chunk_rows")
    query = render_sql(SQL_DIR, "ingest/02_phone_candidates.sql", phone_column="c1")
    return {value for (value,) in conn.execute(query).fetchall()}


def has_extension(value: str, region: str) -> bool:
    try:
        return bool(phonenumbers.parse(value, region).extension)
    except phonenumbers.NumberParseException:
        return False


@pytest.mark.parametrize("region", ["IN", "US", "GB"])
def test_every_cell_the_library_reads_an_extension_in_is_a_candidate(region):
    spellings = list(spelled_numbers(3_000, seed=7))
    values = [before + spelling + after
              for index, spelling in enumerate(spellings)
              for before, after in [(BEFORE[index % len(BEFORE)], AFTER[index % len(AFTER)])]]
    kept = candidates(values)

    missed = [value for value in values if has_extension(value, region) and value not in kept]
    assert missed == []
    assert any(extension_of(value, region)[0] for value in kept)


def test_plain_spellings_with_a_tel_prefix_are_not_parsed_again():
    values = ["tel:+91-98765-43210", "TEL:+91 98765 43210", "tel:098765 43210",
              "Mobile: +91 98765 43210", "+91 (0) 98765.43210"]
    assert candidates(values) == set()
    assert candidates(["tel:+91-98765-43210;ext=12"]) == {"tel:+91-98765-43210;ext=12"}


@pytest.mark.parametrize("region", ["IN", "US", "GB"])
def test_no_cell_the_phone_parser_finds_plain_holds_an_extension(region):
    spellings = list(spelled_numbers(3_000, seed=11))
    values = spellings + [before + spelling + after
                          for index, spelling in enumerate(spellings)
                          for before, after in [(BEFORE[index % len(BEFORE)],
                                                 AFTER[index % len(AFTER)])]]
    conn = duckdb.connect()
    conn.register("_values", pa.table({"raw": pa.array(values, pa.string())}))
    create_phone_lookup(conn, SQL_DIR, "select row_number() over () as row_number, raw "
                        "from _values", region)

    plain = [raw for (raw,) in conn.execute(
        "select raw from (select row_number() over () as row_number, raw from _values) "
        "join phone_lookup using (row_number) where plain").fetchall()]
    assert len(plain) > 1_000  # most spellings are plain
    assert [value for value in plain if has_extension(value, region)] == []
