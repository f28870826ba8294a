"""A vectorised fast path for phone validation, inside DuckDB, that agrees with phonenumbers.

:func:`cohortflow.phones.normalize_distinct` calls ``phonenumbers.parse`` +
``is_valid_number`` + ``format_number(E164)`` once per distinct value (about 19,000 values per
second per core). Here the same decisions are taken in SQL over the phone of every row at
once, using phonenumbers' own per-region metadata, loaded at run time (country calling codes,
international and national prefixes for parsing, general and per-type national-number patterns
and possible lengths, leading digits). The SQL mirrors, step by step, the library's
``_maybe_strip_i18n_prefix_and_normalize``, ``_extract_country_code``,
``_maybe_extract_country_code``, ``_maybe_strip_national_prefix_carrier_code``,
``_test_number_length``, ``region_code_for_number`` and ``_number_type_helper``.

It decides only what it provably handles the same way: values made of spaces, one leading
``+``, ASCII or full-width digits and the separators ``( ) . -`` (no letters, extensions,
RFC 3966, other scripts), in regions without a national-prefix transform rule (where the rule
would apply). Everything else is marked undecided and goes to the library. The differential
test ``tests/unit/test_phones_fastpath.py`` checks agreement over generated numbers of 25+
regions (``COHORTFLOW_PHONE_DIFF_N=1000000`` for the full run).

``COHORTFLOW_FAST_PATHS=0`` turns the fast paths (this one and the SQL templates) off.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import phonenumbers
from phonenumbers import NumberParseException, ValidationResult
from phonenumbers.phonemetadata import PhoneMetadata

from cohortflow import phones
from cohortflow.sqlfiles import render_sql

log = logging.getLogger(__name__)

FAST_PATHS_ENV = "COHORTFLOW_FAST_PATHS"
NON_GEO = "001"
#: A calling code with fewer values than this (among the phones of a chunk) is left to
#: the library: defining and planning its rules takes about 5 ms per region, the library about
#: 50 µs per value. The default region's code is always decided in SQL.
MIN_VALUES_FOR_RULES = 100
#: The judge's region key for a value of a region whose rules were not defined (see
#: sql/phones/01_regions_present.sql): the library decides it.
LIBRARY_KEY = "?"
#: Number types in the order of phonenumbers' ``_number_type_helper`` (mobile is last).
_TYPE_ATTRIBUTES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number",
                    "pager", "uan", "voicemail", "fixed_line")
_LENGTH_STATES = {
    "local": ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    "short": ValidationResult.TOO_SHORT,
    "long": ValidationResult.TOO_LONG,
    "invalid": ValidationResult.INVALID_LENGTH,
}


def fast_paths_enabled() -> bool:
    """False when ``COHORTFLOW_FAST_PATHS=0`` (force the library and Jinja for every row)."""
    return os.environ.get(FAST_PATHS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class RegionRules:
    """One metadata's rules, ready for ``sql/phones/00_rules.sql``."""

    key: str  # macro suffix: the region code, or n<code> for a non-geographic code
    general_pattern: str | None
    lengths: tuple[int, ...]  # general possible lengths, sorted
    local_lengths: tuple[int, ...]
    national_prefix: str | None  # national_prefix_for_parsing
    transform: bool  # a national_prefix_transform_rule exists: such strips are undecided
    types: tuple[tuple[tuple[int, ...], str], ...]  # (possible lengths, pattern) per type

    @property
    def length_mask(self) -> int:
        """The general possible lengths as a bit mask (bit n: length n is possible)."""
        return length_mask(self.lengths)

    @property
    def other_length_mask(self) -> int:
        """The possible lengths after the shortest, as a bit mask."""
        return length_mask(self.lengths[1:])

    @property
    def local_length_mask(self) -> int:
        """The local-only possible lengths, as a bit mask."""
        return length_mask(self.local_lengths)

    @property
    def types_pattern(self) -> str | None:
        """One pattern for all types, over ``chr(65 + length) || number``.

        ``[K](?:p)`` full-matches exactly when the number has length 10 and full-matches
        ``p``; the alternation of all types full-matches when any type does, which is what
        ``_number_type_helper`` returning something other than UNKNOWN means.
        """
        alternatives = []
        for lengths, pattern in self.types:
            usable = [n for n in lengths if 0 <= n <= 40]
            if lengths and not usable:
                continue  # no possible length: the type has no numbers
            marker = "[" + "".join(_length_marker(n) for n in usable) + "]" if usable else "."
            alternatives.append(f"{marker}(?:{pattern})")
        return "|".join(alternatives) or None


def length_mask(lengths: Iterable[int]) -> int:
    """Bit n set for each length n (lengths of 63 digits or more cannot occur in a mask: the
    SQL tests ``least(length, 63)``, whose bit is never set)."""
    return sum(1 << n for n in set(lengths) if 0 <= n < 63)


def _length_marker(length: int) -> str:
    """The character the SQL puts before a number of ``length`` digits: ``chr(65 + length)``."""
    return chr(65 + length)


def metadata_key(region: str, country_code: int) -> str:
    """Macro suffix of a region's metadata (``IN``; ``n800`` for the non-geographic +800)."""
    return f"n{country_code}" if region == NON_GEO else region


def _metadata(region: str, country_code: int) -> Any:
    return PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)


def _pattern(desc: Any) -> str | None:
    if desc is None or not desc.national_number_pattern:
        return None
    return str(desc.national_number_pattern)


@cache
def region_rules(region: str, country_code: int) -> RegionRules:
    """The rules of ``region`` (``001`` with the code for non-geographic entities)."""
    metadata = _metadata(region, country_code)
    general = metadata.general_desc
    types: list[tuple[tuple[int, ...], str]] = []
    descs = [getattr(metadata, name) for name in _TYPE_ATTRIBUTES]
    if not metadata.same_mobile_and_fixed_line_pattern:
        descs.append(metadata.mobile)
    for desc in descs:
        pattern = _pattern(desc)
        if pattern is not None:
            types.append((tuple(desc.possible_length or ()), pattern))
    return RegionRules(
        key=metadata_key(region, country_code),
        general_pattern=_pattern(general),
        lengths=tuple(sorted(general.possible_length or ())),
        local_lengths=tuple(general.possible_length_local_only or ()),
        national_prefix=metadata.national_prefix_for_parsing or None,
        transform=bool(metadata.national_prefix_transform_rule),
        types=tuple(types),
    )


def _regions_for_code(country_code: int) -> list[str]:
    return list(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ()))


def _code_context(country_code: int) -> dict[str, Any]:
    regions = _regions_for_code(country_code)
    main = regions[0]
    options = []
    for region in regions:
        metadata = _metadata(region, country_code)
        if metadata is None:
            continue
        options.append({
            "region": region,
            "key": metadata_key(region, country_code),
            "leading_digits": metadata.leading_digits if len(regions) > 1 else None,
        })
    return {"cc": country_code, "main_key": metadata_key(main, country_code),
            "main_region": main, "options": options}


#: The keys whose macros a connection has (a temp table, like the macros): listing
#: ``duckdb_functions()`` instead builds a row for every built-in function (20-60 ms a chunk).
_DEFINED_TABLE = "phone_rules_defined"


def _defined_keys(conn: duckdb.DuckDBPyConnection) -> set[str]:
    """Keys whose macros this connection has already (a later chunk of the same cohort)."""
    conn.execute(f"create temp table if not exists {_DEFINED_TABLE} (key varchar)")
    return {key for (key,) in conn.execute(f"select key from {_DEFINED_TABLE}").fetchall()}


def _define_rules(conn: duckdb.DuckDBPyConnection, sql_dir: Path, keys: Iterable[tuple[str, int]],
                  defined: set[str]) -> None:
    rules = [region_rules(region, code) for region, code in keys]
    rules = list({rule.key: rule for rule in rules if rule.key not in defined}.values())
    if rules:
        conn.execute(render_sql(sql_dir, "phones/00_rules.sql", rules=rules))
        conn.execute(f"insert into {_DEFINED_TABLE} values "
                     + ", ".join(f"('{rule.key}')" for rule in rules))
        defined.update(rule.key for rule in rules)


#: What phonenumbers' leading-digit patterns are written with (digits and digit classes): the
#: query in sql/phones/01_regions_present.sql relies on it. A region whose pattern holds
#: anything else gets its rules whenever its code does.
_DIGIT_PATTERN_CHARACTERS = frozenset("0123456789()[]-:?|")


def longest_match(pattern: str) -> int:
    """The most digits a leading-digit pattern (of :data:`_DIGIT_PATTERN_CHARACTERS` only:
    digits, classes ``[...]``, groups ``(...)`` or ``(?:...)``, ``?`` and ``|``) can match;
    ValueError for any other pattern."""

    def sequence(at: int) -> tuple[int, int]:  # the widest alternative, up to ')' or the end
        widest = width = 0
        while at < len(pattern) and pattern[at] != ")":
            character = pattern[at]
            if character.isdigit():
                width, at = width + 1, at + 1
            elif character == "[":
                width, at = width + 1, pattern.index("]", at) + 1
            elif character == "(":
                inner, at = sequence(at + (3 if pattern.startswith("(?:", at) else 1))
                if at >= len(pattern):
                    raise ValueError(f"unclosed group in {pattern!r}")
                width, at = width + inner, at + 1
            elif character == "?":  # the item before may be absent: at most its width
                at += 1
            elif character == "|":
                widest, width, at = max(widest, width), 0, at + 1
            else:
                raise ValueError(f"unexpected {character!r} in {pattern!r}")
        return max(widest, width), at

    width, end = sequence(0)
    if end != len(pattern):
        raise ValueError(f"unbalanced ')' in {pattern!r}")
    return width


def _regions_present(conn: duckdb.DuckDBPyConnection, sql_dir: Path, codes: list[dict[str, Any]],
                     defined: set[str], default_key: str) -> list[tuple[str, int]]:
    """The regions told apart by leading digits, not defined yet, that a value of
    ``phone_parsed`` may belong to (sql/phones/01_regions_present.sql). A value's metadata key
    is the default region's (national numbers) or its code's main region's."""
    candidates = [{**option, "cc": code["cc"]} for code in codes for option in code["options"]
                  if option["leading_digits"] and option["key"] not in defined]
    checked = [option for option in candidates
               if set(option["leading_digits"]) <= _DIGIT_PATTERN_CHARACTERS]
    needed = [option for option in candidates if option not in checked]
    if checked:
        shared = [code for code in codes if len(code["options"]) > 1]
        keys = sorted({code["main_key"] for code in shared} | {default_key})
        found = conn.execute(render_sql(
            sql_dir, "phones/01_regions_present.sql", options=checked, codes=shared, keys=keys,
            prefix_digits=_prefix_digits([option["leading_digits"] for option in checked]),
        )).fetchall()[0]
        needed += [option for option, present in zip(checked, found, strict=True) if present]
    return [(option["region"], option["cc"]) for option in needed]


def _prefix_digits(patterns: list[str]) -> int | None:
    """How many leading digits decide every one of ``patterns`` (None: all of them, for a
    pattern whose width this cannot tell)."""
    try:
        return max(1, *(longest_match(pattern) for pattern in patterns))
    except ValueError:
        return None


def _may_match_empty(pattern: str | None) -> bool:
    return bool(pattern) and re.match(str(pattern), "") is not None


def _parse_errors() -> dict[str, str]:
    messages = phones._PARSE_ERRORS
    return {
        "too_short_after_idd": messages[NumberParseException.TOO_SHORT_AFTER_IDD],
        "invalid_country_code": messages[NumberParseException.INVALID_COUNTRY_CODE],
        "too_short": messages[NumberParseException.TOO_SHORT_NSN],
        "too_long": messages[NumberParseException.TOO_LONG],
    }


def _length_details() -> dict[str, str]:
    default = "not a valid number for region {region}"
    details = {state: phones._POSSIBILITY_ERRORS.get(result, default)
               for state, result in _LENGTH_STATES.items()}
    details["ok"] = default
    return details


def _country_codes_pattern() -> str:
    """Every known calling code as one alternation, shortest first (``1|7|20|...``), so a
    leftmost-first match takes 1, 2 then 3 digits as ``_extract_country_code`` does."""
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE,
                   key=lambda code: (len(str(code)), code))
    return "|".join(str(code) for code in codes)


def decide_in_sql(
    conn: duckdb.DuckDBPyConnection,
    sql_dir: Path,
    default_region: str,
    *,
    min_values_for_rules: int = MIN_VALUES_FOR_RULES,
) -> None:
    """From ``phone_values(row_number, raw)`` build the temp table ``phone_fast(row_number,
    e164, region, error, undecided)``: the library's answer for every decided value. Values of
    a calling code with fewer than ``min_values_for_rules`` values, and of a region no other
    value needed the rules of, are left undecided (the library decides them)."""
    phones.check_region(default_region)
    default_code = phonenumbers.country_code_for_region(default_region)
    default_main = _regions_for_code(default_code)[0]
    defined = _defined_keys(conn)
    _define_rules(conn, sql_dir, [(default_region, default_code), (default_main, default_code)],
                  defined)
    default_metadata = _metadata(default_region, default_code)
    default_key = metadata_key(default_region, default_code)
    conn.execute(render_sql(
        sql_dir, "phones/01_parse.sql",
        idd=default_metadata.international_prefix or None,
        idd_may_be_empty=_may_match_empty(default_metadata.international_prefix),
        country_codes=_country_codes_pattern(),
        default_code=str(default_code),
        default_key=default_key,
        errors=_parse_errors(),
    ))
    # The codes and metadata keys present, most frequent first (a CASE tests its branches in
    # order); a value without a key of its own takes its code's main region.
    present = conn.execute(
        "select cc, meta, count(*) from phone_parsed "
        "where cc is not null and error is null and not undecided group by all"
    ).fetchall()
    by_code: dict[int, int] = {}
    for code, _, count in present:
        by_code[int(code)] = by_code.get(int(code), 0) + count
    codes = [_code_context(code) for code in sorted(by_code, key=lambda c: (-by_code[c], c))
             if _regions_for_code(code)
             and (code == default_code or by_code[code] >= min_values_for_rules)]
    # Every region a value cannot be placed in without its rules (a code's main region, and
    # regions told apart by validity); then those told apart by leading digits that may occur.
    _define_rules(conn, sql_dir, [
        (option["region"], code["cc"]) for code in codes for option in code["options"]
        if not option["leading_digits"] or option["key"] == code["main_key"]
    ], defined)
    _define_rules(conn, sql_dir, _regions_present(conn, sql_dir, codes, defined, default_key),
                  defined)
    main_keys = {code["cc"]: code["main_key"] for code in codes}
    by_key: dict[str, int] = {}
    for code, meta, count in present:
        key = meta or main_keys.get(int(code))
        if key is not None:
            by_key[key] = by_key.get(key, 0) + count
    conn.execute(render_sql(
        sql_dir, "phones/02_judge.sql",
        codes=codes, keys=sorted(by_key, key=lambda k: (-by_key[k], k)),
        details=_length_details(), non_geo=NON_GEO, errors=_parse_errors(),
        defined=defined, library_key=LIBRARY_KEY,
        e164_max_digits=phones.E164_MAX_DIGITS, e164_too_long=phones.E164_TOO_LONG,
    ))
    conn.execute("drop table phone_parsed")  # free each intermediate as soon as it is used
    counts = conn.execute(
        "select (select count(*) from phone_fast), (select count(*) from phone_values)"
    ).fetchall()[0]
    if counts[0] != counts[1]:
        raise duckdb.InvalidInputException(
            f"phone fast path produced {counts[0]} results for {counts[1]} values")


def create_phone_lookup(
    conn: duckdb.DuckDBPyConnection,
    sql_dir: Path,
    values_sql: str,
    default_region: str,
    *,
    fast: bool = True,
    normalizer: phones.DistinctNormalizer = phones.normalize_distinct,
    min_values_for_rules: int = MIN_VALUES_FOR_RULES,
) -> dict[str, int]:
    """Create the table ``phone_lookup(row_number, e164, region, error, undecided)`` for the
    rows of ``values_sql`` (``row_number``, unique, and ``raw``, the phone as written, not
    null); ``undecided`` is false on every row (what the fast path could not decide, the
    library has).

    The fast path (unless ``fast`` is false: :func:`fast_paths_enabled`) decides what it can;
    each distinct spelling of the rest goes once through ``normalizer`` (the library). Returns
    counts: ``values`` (rows), ``fast`` (rows decided in SQL) and ``library`` (spellings the
    library decided).
    """
    phones.check_region(default_region)  # also when no value goes to the library
    conn.execute(f"create or replace temp view phone_values as {values_sql}")
    if fast:
        try:
            decide_in_sql(conn, sql_dir, default_region,
                          min_values_for_rules=min_values_for_rules)
        except duckdb.OutOfMemoryException:
            raise  # the library would not fit either: ingest says what to do
        except duckdb.Error as exc:  # e.g. a metadata pattern RE2 cannot compile
            log.warning("phone fast path unavailable, using phonenumbers for every value: %s",
                        exc)
            fast = False
    if not fast:  # every row undecided: the library answers them all
        conn.execute("create or replace temp table phone_fast as select row_number, "
                     "null::varchar as e164, null::varchar as region, null::varchar as error, "
                     "true as undecided from phone_values")
    conn.execute("create or replace temp table phone_undecided as select row_number, raw "
                 "from phone_fast join phone_values using (row_number) where undecided")
    rest = conn.sql("select distinct raw from phone_undecided").fetchall()
    undecided = conn.execute("select count(*) from phone_undecided").fetchall()[0][0]
    if rest:  # the library's answers replace the undecided rows (in place: no copy)
        _register_library_results(conn, [raw for (raw,) in rest], default_region, normalizer)
        conn.execute("delete from phone_fast where undecided")
        conn.execute("insert into phone_fast select row_number, e164, region, error, false "
                     "from phone_undecided join _phone_library using (raw)")
        conn.unregister("_phone_library")
    conn.execute("drop table if exists phone_lookup")
    conn.execute("alter table phone_fast rename to phone_lookup")
    total = conn.execute("select count(*) from phone_lookup").fetchall()[0][0]
    conn.execute("drop table phone_undecided")
    conn.execute("drop view phone_values")
    conn.execute("drop table if exists phone_parsed")  # only phone_lookup is used from here
    return {"values": int(total), "fast": int(total) - int(undecided), "library": len(rest)}


def _register_library_results(
    conn: duckdb.DuckDBPyConnection,
    values: list[str],
    region: str,
    normalizer: phones.DistinctNormalizer,
) -> None:
    """Register ``_phone_library(raw, e164, region, error)``: ``normalizer``'s answer for each
    of ``values`` (distinct spellings)."""
    import pyarrow as pa  # here, not at the top: see cohortflow.ingest (imports)

    results = normalizer(values, region)
    conn.register("_phone_library", pa.table({
        "raw": pa.array(values, pa.string()),
        "e164": pa.array(results.e164, pa.string()),
        "region": pa.array(results.region, pa.string()),
        "error": pa.array(results.error, pa.string()),
    }))
