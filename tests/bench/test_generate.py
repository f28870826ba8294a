"""The benchmark's cohorts: a cohort written in parts (one process each) is one cohort, with
its rows in order and no number shared between parts; a small one is the single stream."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import phonenumbers
import pytest
from benchmarks import generate

ROWS = 6_000


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _e164(phone: str) -> str | None:
    try:
        number = phonenumbers.parse(phone, generate.DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def test_a_cohort_written_in_parts_is_one_cohort_with_no_number_shared_between_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generate, "SPLIT_ROWS", 1_000)
    rows = _rows(generate.write_cohort(tmp_path, ROWS))

    assert [row["customer_id"] for row in rows] == [f"C{n:08d}" for n in range(1, ROWS + 1)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.yaml", f"cohort_{ROWS}.csv"]
    half = ROWS // generate.SEGMENTS
    parts_of: dict[str, set[int]] = defaultdict(set)
    for index, row in enumerate(rows):
        e164 = _e164(row["phone"])
        if e164 is not None:
            parts_of[e164].add(index // half)
    assert not [e164 for e164, parts in parts_of.items() if len(parts) > 1]
    valid = sum(1 for row in rows if _e164(row["phone"]) is not None)
    assert 0.85 * ROWS < valid < 0.97 * ROWS  # about 5% invalid (a few more for IN's rules)
    assert ROWS * 0.02 < valid - len(parts_of) < ROWS * 0.08  # about 5% repeat a number


def test_a_small_cohort_is_the_single_stream(tmp_path: Path) -> None:
    path = generate.write_cohort(tmp_path, 2_000, seed=5)
    stream = generate.rows(2_000, seed=5)

    assert path.read_text(encoding="utf-8") == generate.HEADER + "".join(stream())


def test_phones_mix_the_common_spellings_and_foreign_regions(tmp_path: Path) -> None:
    phones = [row["phone"] for row in _rows(generate.write_cohort(tmp_path, ROWS, seed=6))]
    regions = {phonenumbers.region_code_for_number(phonenumbers.parse(phone, "IN"))
               for phone in phones if _e164(phone) is not None}

    assert len(regions - {generate.DEFAULT_REGION}) >= 10
    for start in ("+91 ", "0", "91-", "(+91) ", "tel:+", "00", "(+"):
        assert sum(phone.startswith(start) for phone in phones) > ROWS * 0.005, start
    assert ROWS * 0.005 < sum(not phone.isascii() for phone in phones) < ROWS * 0.05
