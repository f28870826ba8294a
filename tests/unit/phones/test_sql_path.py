"""The phone fast path (SQL over phonenumbers' metadata) agrees with the library on every input.

A differential test: numbers of 30 regions, of every type, mutated (digits changed, added,
dropped) and written in many ways (E.164, international, national, ``00``/``011`` prefixes,
separators, full-width digits, junk), validated for several default regions by
:func:`cohortflow.phones.create_phone_lookup` and by
:func:`cohortflow.phones.normalize_distinct`; every result (E.164, region, error detail) must
be equal. ``make test`` checks 50,000 numbers; ``COHORTFLOW_PHONE_DIFF_N=1000000`` runs the
full differential. The differential defines the rules of every calling code present, however
few its values (in production, rare codes are left to the library).
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

import duckdb
import phonenumbers
import pyarrow as pa
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from cohortflow.phones import library as phones
from cohortflow.phones import rules
from cohortflow.phones import sql_path as phones_fast

SQL_DIR = Path(__file__).resolve().parents[3] / "sql"
SAMPLE = int(os.environ.get("COHORTFLOW_PHONE_DIFF_N", "50000"))
REGIONS = (
    "IN", "US", "CA", "GB", "DE", "FR", "BR", "AE", "SG", "AU", "IT", "ES", "NL", "JP", "CN",
    "MX", "ZA", "NG", "KE", "ID", "PH", "PK", "BD", "SA", "CH", "SE", "AR", "RU", "KZ", "GG",
    "JM", "PR", "HK", "KR", "TR",
)
DEFAULT_REGIONS = ("IN", "US", "GB", "BR", "DE", "AR", "JP", "IT")
TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.TOLL_FREE,
         PhoneNumberType.PREMIUM_RATE, PhoneNumberType.VOIP, PhoneNumberType.UAN,
         PhoneNumberType.SHARED_COST, PhoneNumberType.PERSONAL_NUMBER)
_FULL_WIDTH = str.maketrans("0123456789+", "０１２３４５６７８９＋")
_JUNK = ("", " ", "n/a", "+", "++91 98765 43210", "98765x123", "tel:+91-98765-43210",
         "+91 98765 43210 ext. 12", "١٢٣٤٥٦٧٨٩٠", "1-800-FLOWERS", "(0)", "0", "00", "000",
         "+0 123 4567", "+800 1234 5678", "+882 1234 5678", "+979 123456789",
         # '+' and an unknown code: parse retries without the '+' (IDD, default code)
         "+999 123456789", "+99 12345", "+0091 98765 43210", "+011 1 212 555 0100",
         "+001 212 555 0100", "+969 1 234 5678", "+21 1234567", "+28 12 34", "+999",
         # valid for phonenumbers, but longer than the 15 digits of E.164
         "+49 30 1234567890123", "+81 0037 1234567890123", "+62 001803 12345678901",
         "+49 30 123456789012", "+49 30 12345678901")


def _examples() -> list[phonenumbers.PhoneNumber]:
    found = []
    for region in REGIONS:
        for number_type in TYPES:
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is not None:
                found.append(example)
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            found.append(example)
    return found


def _mutate(rng: random.Random, nsn: str) -> str:
    choice = rng.random()
    digits = list(nsn)
    if choice < 0.45:  # keep the prefix, new tail: mostly valid
        keep = rng.randrange(1, max(2, len(digits)))
        return "".join(digits[:keep]) + "".join(rng.choices("0123456789", k=len(digits) - keep))
    if choice < 0.6:
        position = rng.randrange(len(digits) + 1)
        digits.insert(position, rng.choice("0123456789"))
    elif choice < 0.75 and len(digits) > 2:
        del digits[rng.randrange(len(digits))]
    elif choice < 0.9:
        digits[rng.randrange(len(digits))] = rng.choice("0123456789")
    else:
        return "".join(rng.choices("0123456789", k=rng.randrange(1, 19)))
    return "".join(digits)


def _spell(rng: random.Random, code: int, nsn: str, national_prefix: str) -> str:
    style = rng.randrange(12)
    half = len(nsn) // 2
    if style == 0:
        text = f"+{code}{nsn}"
    elif style == 1:
        text = f"+{code} {nsn[:half]} {nsn[half:]}"
    elif style == 2:
        text = f"00{code}{nsn}"
    elif style == 3:
        text = f"011 {code} {nsn}"
    elif style == 4:
        text = f"{national_prefix}{nsn}"
    elif style == 5:
        text = nsn
    elif style == 6:
        text = f"{code}{nsn}"
    elif style == 7:
        text = f"({nsn[:3]}) {nsn[3:half + 2]}-{nsn[half + 2:]}"
    elif style == 8:
        text = f" +{code}.{nsn[:half]}.{nsn[half:]}\t"
    elif style == 9:
        text = f"+{code}-({national_prefix}){nsn}"
    elif style == 10:
        text = f"{national_prefix} {nsn[:2]} {nsn[2:]}"
    else:
        text = f"0{code}{nsn}"
    return text.translate(_FULL_WIDTH) if rng.random() < 0.1 else text


def generate_numbers(count: int, seed: int = 7) -> list[str]:
    """``count`` distinct phone strings of many regions, types, mutations and spellings."""
    rng = random.Random(seed)
    examples = _examples()
    prefixes = {}
    values: set[str] = set(_JUNK)
    while len(values) < count:
        example = rng.choice(examples)
        code = example.country_code
        if code not in prefixes:
            region = phonenumbers.region_code_for_country_code(code)
            prefixes[code] = phonenumbers.ndd_prefix_for_region(region, True) or "0"
        nsn = phonenumbers.national_significant_number(example)
        if rng.random() < 0.02:  # any three digits after '+': known and unknown codes
            values.add(f"+{rng.randrange(1000)} " + "".join(rng.choices("0123456789", k=9)))
            continue
        if rng.random() < 0.03:
            values.add(phonenumbers.format_number(example, rng.choice(
                (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL,
                 PhoneNumberFormat.RFC3966))))
            continue
        values.add(_spell(rng, code, _mutate(rng, nsn), prefixes[code]))
    return sorted(values)[:count]


def fast_results(values: list[str], region: str, *, min_values_for_rules: int = 1,
                 defined: list[str] | None = None) -> tuple[dict[str, tuple], dict[str, int]]:
    """The fast path's results for ``values`` and its counts; ``defined`` receives the keys
    whose rules were defined."""
    conn = duckdb.connect()
    try:
        conn.register("numbers", pa.table({"row_number": pa.array(range(1, len(values) + 1)),
                                           "raw": pa.array(values, pa.string())}))
        stats = phones_fast.create_phone_lookup(
            conn, SQL_DIR, "select row_number, raw from numbers", region,
            min_values_for_rules=min_values_for_rules)
        rows = conn.execute("select raw, e164, region, error from phone_lookup "
                            "join numbers using (row_number)").fetchall()
        assert len(rows) == len(values), "one result per row"
        if defined is not None:
            defined.extend(key for (key,) in conn.execute(
                "select key from phone_rules_defined order by key").fetchall())
    finally:
        conn.close()
    return {raw: (e164, number_region, error) for raw, e164, number_region, error in rows}, stats


def library_results(values: list[str], region: str) -> dict[str, tuple]:
    library = phones.normalize_distinct(values, region)
    return dict(zip(values, zip(library.e164, library.region, library.error, strict=True),
                    strict=True))


@pytest.mark.parametrize("region", DEFAULT_REGIONS)
def test_fast_path_agrees_with_phonenumbers_on_generated_numbers(region: str) -> None:
    values = generate_numbers(SAMPLE // len(DEFAULT_REGIONS), seed=hash(region) % 1000)
    fast, stats = fast_results(values, region)
    library = phones.normalize_distinct(values, region)
    mismatches = [
        (value, fast.get(value), expected)
        for value, expected in zip(
            values, zip(library.e164, library.region, library.error, strict=True), strict=True)
        if fast.get(value) != expected
    ]
    assert not mismatches[:20], f"{len(mismatches)} of {len(values)} differ"
    # the fast path really decides: all but the odd values (letters, extensions, a '+'
    # before an unknown code, fewer than three digits)
    assert stats["fast"] > 0.98 * stats["values"], stats


def test_cohort_numbers_are_decided_in_sql() -> None:
    from benchmarks.generate import rows

    values = sorted({line.split(",", 1)[0] for line in rows(5000)()})
    fast, stats = fast_results(values, "IN")
    library = phones.normalize_distinct(values, "IN")
    assert [fast[v] for v in values] == list(
        zip(library.e164, library.region, library.error, strict=True))
    assert stats["library"] < 0.01 * len(values), stats  # distinct spellings


@pytest.mark.parametrize("values", [
    ["98765x123", "1-800-FLOWERS", "+91 98765 43210;ext=1"],  # nothing the fast path parses
    ["+999 123456789", "+0091 98765 43210"],  # parsed, but no known calling code
    ["+91 98765 43210"],
])
def test_fast_path_runs_on_any_mix_without_falling_back(
    values: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    fast, _ = fast_results(values, "IN")
    library = phones.normalize_distinct(values, "IN")
    assert [fast[v] for v in values] == list(
        zip(library.e164, library.region, library.error, strict=True))
    assert "fast path unavailable" not in caplog.text


def _numbers(region: str, count: int, seed: int) -> list[str]:
    """``count`` distinct valid mobile numbers of ``region`` in E.164."""
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    assert example is not None
    nsn = phonenumbers.national_significant_number(example)
    rng = random.Random(seed)
    found: set[str] = set()
    while len(found) < count:
        candidate = nsn[:4] + "".join(rng.choices("0123456789", k=len(nsn) - 4))
        number = phonenumbers.parse(f"+{example.country_code}{candidate}")
        if phonenumbers.is_valid_number(number):
            found.add(phonenumbers.format_number(number, PhoneNumberFormat.E164))
    return sorted(found)


def test_a_calling_code_with_few_values_is_left_to_the_library() -> None:
    common = _numbers("IN", 150, seed=1) + _numbers("GB", 120, seed=2)
    rare = [*_numbers("DK", 3, seed=3), "+45 1234"]
    defined: list[str] = []

    fast, stats = fast_results(common + rare, "IN", min_values_for_rules=100, defined=defined)

    assert fast == library_results(common + rare, "IN")
    assert "DK" not in defined and "GB" in defined
    assert stats["library"] == len(rare)


def test_a_region_told_apart_by_leading_digits_gets_rules_only_when_a_value_needs_them() -> None:
    us = _numbers("US", 200, seed=4)
    jamaica = _numbers("JM", 5, seed=5)  # +1 876 / 658: NANP, told apart by leading digits
    prefixed = ["+1 1 " + number[2:] for number in jamaica]  # the national prefix after +1
    for values, expected_jm in ((us, False), (us + jamaica, True), (us + prefixed, True)):
        defined: list[str] = []
        fast, stats = fast_results(values, "US", defined=defined)
        assert fast == library_results(values, "US")
        assert ("JM" in defined) is expected_jm
        assert "AG" not in defined and "PR" not in defined  # no value of theirs
        assert stats["library"] == 0


def test_the_isle_of_man_is_told_apart_from_great_britain_by_five_leading_digits() -> None:
    britain = _numbers("GB", 200, seed=8)
    # leading digits 74576|(?:16|7[56])24 (IM's own example number, 7924..., is British)
    man = [f"+44 7624 {n:06d}" for n in (123456, 234567, 345678)]
    assert {phonenumbers.region_code_for_number(phonenumbers.parse(n)) for n in man} == {"IM"}
    national = [*britain, "07624 12"]  # a national number: 7624 once the 0 is stripped
    for values, expected_im in ((britain, False), (britain + man, True), (national, True)):
        defined: list[str] = []
        fast, _ = fast_results(values, "GB", defined=defined)
        assert fast == library_results(values, "GB")
        assert ("IM" in defined) is expected_im


def test_regions_are_found_on_every_digit_when_a_patterns_width_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unknown(pattern: str) -> int:
        raise ValueError(pattern)

    monkeypatch.setattr(rules, "longest_match", unknown)
    values = _numbers("US", 200, seed=4) + _numbers("JM", 5, seed=5)
    defined: list[str] = []

    fast, _ = fast_results(values, "US", defined=defined)

    assert fast == library_results(values, "US")
    assert "JM" in defined and "AG" not in defined


def test_the_longest_match_of_every_leading_digit_pattern_is_what_python_re_finds() -> None:
    import re._parser as re_parser  # the re module's own parser, to check against

    patterns = set()
    for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
                code, region)
            if metadata is not None and metadata.leading_digits:
                patterns.add(metadata.leading_digits)
    patterns |= {"1", "2?3", "(?:1|23)[4-6]?", "8001|8[024]9", "(1(2|34))5", "((?:1|2)3)?4"}
    assert len(patterns) > 30
    for pattern in sorted(patterns):
        assert set(pattern) <= rules.DIGIT_PATTERN_CHARACTERS, pattern
        assert rules.longest_match(pattern) == re_parser.parse(pattern).getwidth()[1], \
            pattern
    for unsupported in ("1{3}", "2*", "(12", "12)", "\\d"):
        with pytest.raises(ValueError):
            rules.longest_match(unsupported)


def test_a_value_of_a_region_without_rules_is_left_to_the_library(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = [*_numbers("US", 50, seed=6), *_numbers("JM", 5, seed=7), "+1 876 12"]
    monkeypatch.setattr(phones_fast, "regions_present", lambda *args: [])

    fast, stats = fast_results(values, "US")

    assert fast == library_results(values, "US")
    assert stats["library"] == 6  # the Jamaican values, valid or not


def test_fast_paths_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from cohortflow.settings import get_settings

    monkeypatch.setenv("COHORTFLOW_FAST_PATHS", "0")
    assert not get_settings().fast_paths
    monkeypatch.setenv("COHORTFLOW_FAST_PATHS", "1")
    assert get_settings().fast_paths


def test_running_out_of_memory_is_not_a_reason_to_fall_back_to_the_library(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library, one value at a time, would not fit either, and would take minutes: the
    error goes up to ingest, which says what to raise."""
    def out_of_memory(*_: object, **__: object) -> None:
        raise duckdb.OutOfMemoryException("could not allocate block")

    def library(values: Sequence[str], region: str) -> phones.PhoneColumns:
        raise AssertionError(f"the library was asked for {len(values)} values")

    monkeypatch.setattr(phones_fast, "decide_in_sql", out_of_memory)
    conn = duckdb.connect()
    try:
        conn.execute("create table numbers as select '+91 98765 43210' as raw")
        with pytest.raises(duckdb.OutOfMemoryException):
            phones_fast.create_phone_lookup(
                conn, SQL_DIR, "select 1 as row_number, raw from numbers", "IN",
                normalizer=library)
    finally:
        conn.close()


def test_every_row_gets_its_answer_and_the_library_each_undecided_spelling_once() -> None:
    """The lookup is per row (rows sharing a spelling each get its answer); what the fast path
    leaves undecided (an extension here) goes to the library once per spelling, not per row."""
    values = ["+91 98765 43210", "98765 43211 x5", "+91 98765 43210",
              "98765 43211 x5", "98765 43212", "98765 43211 x5"]
    asked: list[str] = []

    def library(spellings: Sequence[str], region: str) -> phones.PhoneColumns:
        asked.extend(spellings)
        return phones.normalize_distinct(spellings, region)

    conn = duckdb.connect()
    try:
        conn.register("numbers", pa.table({"row_number": pa.array(range(1, len(values) + 1)),
                                           "raw": pa.array(values, pa.string())}))
        stats = phones_fast.create_phone_lookup(
            conn, SQL_DIR, "select row_number, raw from numbers", "IN", normalizer=library)
        rows = conn.execute("select row_number, e164, region, error from phone_lookup "
                            "order by row_number").fetchall()
    finally:
        conn.close()
    expected = library_results(values, "IN")
    assert [(row_number, *expected[values[row_number - 1]]) for row_number in range(1, 7)] \
        == rows
    assert asked == ["98765 43211 x5"] and stats == {"values": 6, "fast": 3, "library": 1}
