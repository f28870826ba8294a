"""The SQL fast path decides the spellings people really write, exactly as phonenumbers does.

A differential test over :mod:`tests.unit.phones.spellings`: valid and invalid numbers of 40
regions in every common spelling (brackets around the calling code, ``(+cc)``, ``00cc``,
national formats, ``+cc (0)``, ``tel:``, separators of every kind, digits of other scripts)
and odd values (letters, extensions, two numbers in a cell), validated for several default
regions by :func:`cohortflow.phones.create_phone_lookup` and by
:func:`cohortflow.phones.normalize_distinct`: every result (E.164, region, error detail) must
be equal, and fewer than 1% of the distinct values of common spellings may reach the library.
``make test`` checks 50,000 values; ``COHORTFLOW_PHONE_DIFF_N=1000000`` a million.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from cohortflow.phones import library as phones
from cohortflow.phones import sql_path as phones_fast
from tests.unit.phones.spellings import COMMON, ODD, spelled_numbers

SQL_DIR = Path(__file__).resolve().parents[3] / "sql"
SAMPLE = int(os.environ.get("COHORTFLOW_PHONE_DIFF_N", "50000"))
#: Default regions with and without a national prefix, with an international prefix of their
#: own (011, 0011, 001...), and with transform rules for national numbers (AR, BR, JP, AG, GG).
DEFAULT_REGIONS = ("IN", "US", "GB", "DE", "BR", "AR", "JP", "AU", "AG", "GG")
#: At most this share of the distinct values of common spellings may reach the library.
MAX_LIBRARY_SHARE = 0.01


def decide(values: list[str], region: str) -> tuple[dict[str, tuple], list[str]]:
    """The fast path's result for each of ``values``, and the values the library was asked."""
    asked: list[str] = []

    def library(spellings: Sequence[str], default_region: str) -> phones.PhoneColumns:
        asked.extend(spellings)
        return phones.normalize_distinct(spellings, default_region)

    conn = duckdb.connect()
    try:
        conn.register("numbers", pa.table({"row_number": pa.array(range(1, len(values) + 1)),
                                           "raw": pa.array(values, pa.string())}))
        phones_fast.create_phone_lookup(conn, SQL_DIR, "select row_number, raw from numbers",
                                        region, normalizer=library, min_values_for_rules=1)
        rows = conn.execute("select raw, e164, region, error from phone_lookup "
                            "join numbers using (row_number)").fetchall()
    finally:
        conn.close()
    assert len(rows) == len(values), "one result per row"
    return {raw: (e164, number_region, error) for raw, e164, number_region, error in rows}, asked


@pytest.mark.parametrize("region", DEFAULT_REGIONS)
def test_every_common_spelling_is_decided_in_sql_as_the_library_decides_it(region: str) -> None:
    spelled = spelled_numbers(SAMPLE // len(DEFAULT_REGIONS),
                              seed=sum(map(ord, region)))
    values = sorted(spelled)

    fast, asked = decide(values, region)

    library = phones.normalize_distinct(values, region)
    mismatches = [
        (value, spelled[value], fast[value], expected)
        for value, expected in zip(
            values, zip(library.e164, library.region, library.error, strict=True), strict=True)
        if fast[value] != expected
    ]
    assert not mismatches[:20], f"{len(mismatches)} of {len(values)} differ"
    common = [value for value in values if spelled[value] != ODD]
    reached = sorted(set(asked).intersection(common))
    assert len(reached) < MAX_LIBRARY_SHARE * len(common), (
        f"{len(reached)} of {len(common)} reached the library", reached[:20])


def test_the_spellings_cover_every_style_valid_and_invalid() -> None:
    """Each common spelling gives valid numbers (``00`` for India, ``011`` for the US), and
    the mix holds invalid, odd and non-ASCII values."""
    spelled = spelled_numbers(5000, seed=1)
    valid: Counter[str] = Counter()
    for region in ("IN", "US"):
        library = phones.normalize_distinct(list(spelled), region)
        valid.update(name for name, e164 in zip(spelled.values(), library.e164, strict=True)
                     if e164 is not None)
    invalid = Counter(name for name, e164 in zip(spelled.values(), library.e164, strict=True)
                      if e164 is None)
    assert set(valid) >= set(COMMON), set(COMMON) - set(valid)
    assert invalid[ODD] > 50 and sum(invalid.values()) > 0.1 * len(spelled)
    assert sum(1 for value in spelled if not value.isascii()) > 0.05 * len(spelled)
