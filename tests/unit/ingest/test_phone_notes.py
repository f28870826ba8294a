"""The phone-notes step parses again only cells that may hold an extension: the phone lookup's
no_extension (cohortflow/phones/spelling.py NO_EXTENSION), which
sql/ingest/02_phone_candidates.sql filters on, must be false for every cell in which
phonenumbers finds one, whichever path (SQL or the library) decided the cell."""

from __future__ import annotations

from pathlib import Path

import duckdb
import phonenumbers
import pyarrow as pa
import pytest

from cohortflow.ingest.phone_notes import extension_of
from cohortflow.phones import create_phone_lookup
from tests.unit.phones.spellings import spelled_numbers

SQL_DIR = Path(__file__).parents[3] / "sql"
#: Extensions and second numbers behind the spellings, and text in front of them.
AFTER = ("", " ext 12", " x12", "#12", ";ext=12", ";9876543213", ", 12", " ~12", " anexo 12",
         ";phone-context=+91", ";isub=12")
BEFORE = ("", "tel:", "TEL:", "Mobile: ", "tel:;", "x ")


def with_room(values: list[str], region: str) -> set[str]:
    """The values the phone lookup finds room for an extension in (no_extension false)."""
    conn = duckdb.connect()
    conn.register("_values", pa.table({"raw": pa.array(values, pa.string())}))
    conn.execute("create table numbered as "
                 "select row_number() over () as row_number, raw from _values")
    create_phone_lookup(conn, SQL_DIR, "select row_number, raw from numbered", region)
    return {raw for (raw,) in conn.execute(
        "select raw from numbered join phone_lookup using (row_number) "
        "where not no_extension").fetchall()}


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
    kept = with_room(values, region)

    missed = [value for value in values if has_extension(value, region) and value not in kept]
    assert missed == []
    assert any(extension_of(value, region)[0] for value in kept)


def test_plain_spellings_with_a_tel_prefix_are_not_parsed_again():
    values = ["tel:+91-98765-43210", "TEL:+91 98765 43210", "tel:098765 43210",
              "Mobile: +91 98765 43210", "+91 (0) 98765.43210"]
    assert with_room(values, "IN") == set()
    assert with_room(["tel:+91-98765-43210;ext=12"], "IN") == {"tel:+91-98765-43210;ext=12"}


@pytest.mark.parametrize("region", ["IN", "US", "GB"])
def test_no_cell_the_lookup_finds_no_room_in_holds_an_extension(region):
    spellings = list(spelled_numbers(3_000, seed=11))
    values = spellings + [before + spelling + after
                          for index, spelling in enumerate(spellings)
                          for before, after in [(BEFORE[index % len(BEFORE)],
                                                 AFTER[index % len(AFTER)])]]

    no_room = set(values) - with_room(values, region)

    assert len(no_room) > 1_000  # most spellings leave no room
    assert [value for value in no_room if has_extension(value, region)] == []
