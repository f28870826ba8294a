"""The SQL fast path for phone validation, inside DuckDB, that agrees with phonenumbers.

:func:`cohortflow.phones.library.normalize_distinct` calls ``phonenumbers.parse`` +
``is_valid_number`` + ``format_number(E164)`` once per distinct value. Here the same decisions
are taken in SQL over the phone of every row at once, using phonenumbers' own per-region
metadata (:mod:`cohortflow.phones.rules`). The SQL mirrors, step by step, the library's
``_maybe_strip_i18n_prefix_and_normalize``, ``_extract_country_code``,
``_maybe_extract_country_code``, ``_maybe_strip_national_prefix_carrier_code``,
``_test_number_length``, ``region_code_for_number`` and ``_number_type_helper``.

Before that, it reads a spelling as ``parse`` does (:mod:`cohortflow.phones.spelling`: text
before the number, brackets, separators, digits of any script). It decides only what it
provably handles the same way; everything else is marked undecided and goes to the library
(docs/decisions/003-phone-fast-path-agrees-with-the-library.md). The differential tests
``tests/unit/phones/test_sql_path.py`` and ``test_spellings.py`` check agreement over numbers
of 35+ regions in every common spelling.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import phonenumbers
import pyarrow as pa

from cohortflow.phones import spelling
from cohortflow.phones.library import (
    E164_MAX_DIGITS,
    E164_TOO_LONG,
    DistinctNormalizer,
    check_region,
    normalize_distinct,
)
from cohortflow.phones.rules import (
    DIGIT_PATTERN_CHARACTERS,
    LENGTH_CODES,
    NON_GEO,
    RegionRules,
    code_context,
    country_codes_pattern,
    length_details,
    may_match_empty,
    metadata_key,
    parse_errors,
    prefix_digits,
    region_metadata,
    region_rules,
    regions_for_code,
)
from cohortflow.sqlfiles import quote_literal, render_sql

log = logging.getLogger(__name__)

#: A calling code with fewer values than this (among the phones of a chunk) is left to the
#: library: defining and planning a region's rules costs more than the library takes for a
#: hundred values. The default region's code is always decided in SQL.
MIN_VALUES_FOR_RULES = 100
#: The judge's region key for a value of a region whose rules were not defined (see
#: sql/phones/01_regions_present.sql): the library decides it.
LIBRARY_KEY = "?"

#: The keys whose macros a connection has (a temp table, like the macros): cheaper to read than
#: listing ``duckdb_functions()``, which builds a row for every built-in function.
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


def _transform_keys(keys: Iterable[str]) -> list[str]:
    """The metadata keys among ``keys`` whose national prefix has a transform rule the SQL
    mirrors (the keys that have a ``_ph_tf_<key>`` macro)."""
    return sorted(key for key in keys if key != LIBRARY_KEY and _rules_of_key(key).transform_group)


def _rules_of_key(key: str) -> RegionRules:
    if key.startswith("n"):  # a non-geographic calling code
        return region_rules(NON_GEO, int(key[1:]))
    return region_rules(key, phonenumbers.country_code_for_region(key))


def regions_present(conn: duckdb.DuckDBPyConnection, sql_dir: Path, codes: list[dict[str, Any]],
                     defined: set[str], default_key: str) -> list[tuple[str, int]]:
    """The regions told apart by leading digits, not defined yet, that a value of
    ``phone_parsed`` may belong to (sql/phones/01_regions_present.sql). A value's metadata key
    is the default region's (national numbers) or its code's main region's."""
    candidates = [{**option, "cc": code["cc"]} for code in codes for option in code["options"]
                  if option["leading_digits"] and option["key"] not in defined]
    checked = [option for option in candidates
               if set(option["leading_digits"]) <= DIGIT_PATTERN_CHARACTERS]
    needed = [option for option in candidates if option not in checked]
    if checked:
        shared = [code for code in codes if len(code["options"]) > 1]
        keys = sorted({code["main_key"] for code in shared} | {default_key})
        found = conn.execute(render_sql(
            sql_dir, "phones/01_regions_present.sql", options=checked, codes=shared, keys=keys,
            transform_keys=_transform_keys(keys),
            prefix_digits=prefix_digits([option["leading_digits"] for option in checked]),
        )).fetchall()[0]
        needed += [option for option, present in zip(checked, found, strict=True) if present]
    return [(option["region"], option["cc"]) for option in needed]



def decide_in_sql(
    conn: duckdb.DuckDBPyConnection,
    sql_dir: Path,
    default_region: str,
    *,
    min_values_for_rules: int = MIN_VALUES_FOR_RULES,
) -> None:
    """From ``phone_values(row_number, raw)`` build the temp table ``phone_fast(row_number,
    e164, region, error, undecided, no_extension)``: the library's answer for every decided
    value. Values of a calling code with fewer than ``min_values_for_rules`` values, and of a
    region no other value needed the rules of, are left undecided (the library decides them)."""
    check_region(default_region)
    default_code = phonenumbers.country_code_for_region(default_region)
    default_main = regions_for_code(default_code)[0]
    defined = _defined_keys(conn)
    _define_rules(conn, sql_dir, [(default_region, default_code), (default_main, default_code)],
                  defined)
    default_metadata = region_metadata(default_region, default_code)
    default_key = metadata_key(default_region, default_code)
    characters = "".join(character for (character,) in conn.execute(
        render_sql(sql_dir, "phones/01_characters.sql")).fetchall())
    conn.execute(render_sql(
        sql_dir, "phones/01_parse.sql",
        idd=default_metadata.international_prefix or None,
        idd_may_be_empty=may_match_empty(default_metadata.international_prefix),
        country_codes=country_codes_pattern(),
        translation=spelling.translation(characters), shape=spelling.SHAPE, blank=spelling.BLANK,
        default_code=str(default_code),
        default_key=default_key,
        default_transform=bool(_transform_keys([default_key])),
        errors=parse_errors(), length=LENGTH_CODES,
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
    codes = [code_context(code) for code in sorted(by_code, key=lambda c: (-by_code[c], c))
             if regions_for_code(code)
             and (code == default_code or by_code[code] >= min_values_for_rules)]
    # Every region a value cannot be placed in without its rules (a code's main region, and
    # regions told apart by validity); then those told apart by leading digits that may occur.
    _define_rules(conn, sql_dir, [
        (option["region"], code["cc"]) for code in codes for option in code["options"]
        if not option["leading_digits"] or option["key"] == code["main_key"]
    ], defined)
    _define_rules(conn, sql_dir, regions_present(conn, sql_dir, codes, defined, default_key),
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
        transform_keys=_transform_keys(by_key),
        details=length_details(), length=LENGTH_CODES, non_geo=NON_GEO, errors=parse_errors(),
        defined=defined, library_key=LIBRARY_KEY,
        e164_max_digits=E164_MAX_DIGITS, e164_too_long=E164_TOO_LONG,
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
    normalizer: DistinctNormalizer = normalize_distinct,
    min_values_for_rules: int = MIN_VALUES_FOR_RULES,
) -> dict[str, int]:
    """Create the table ``phone_lookup(row_number, e164, region, error, undecided,
    no_extension)`` for the rows of ``values_sql`` (``row_number``, unique, and ``raw``, the
    phone as written, not null); ``undecided`` is false on every row (what the fast path could
    not decide, the library has); ``no_extension``: ``phonenumbers`` can read no extension
    (nor a second number) in the value: true for a value decided in SQL (its shape leaves no
    room), tested with :data:`cohortflow.phones.spelling.NO_EXTENSION` for the others.

    The fast path (unless ``fast`` is false: ``COHORTFLOW_FAST_PATHS=0``) decides what it can;
    each distinct spelling of the rest goes once through ``normalizer`` (the library). Returns
    counts: ``values`` (rows), ``fast`` (rows decided in SQL) and ``library`` (spellings the
    library decided).
    """
    check_region(default_region)  # also when no value goes to the library
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
                     "true as undecided, false as no_extension from phone_values")
    conn.execute("create or replace temp table phone_undecided as select row_number, raw "
                 "from phone_fast join phone_values using (row_number) where undecided")
    rest = conn.sql("select distinct raw from phone_undecided").fetchall()
    undecided = conn.execute("select count(*) from phone_undecided").fetchall()[0][0]
    if rest:  # the library's answers replace the undecided rows (in place: no copy)
        _register_library_results(conn, [raw for (raw,) in rest], default_region, normalizer)
        conn.execute("delete from phone_fast where undecided")
        conn.execute("insert into phone_fast select row_number, e164, region, error, false, "
                     f"coalesce(regexp_full_match(raw, {quote_literal(spelling.NO_EXTENSION)}), "
                     "false) from phone_undecided join _phone_library using (raw)")
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
    normalizer: DistinctNormalizer,
) -> None:
    """Register ``_phone_library(raw, e164, region, error)``: ``normalizer``'s answer for each
    of ``values`` (distinct spellings)."""
    results = normalizer(values, region)
    conn.register("_phone_library", pa.table({
        "raw": pa.array(values, pa.string()),
        "e164": pa.array(results.e164, pa.string()),
        "region": pa.array(results.region, pa.string()),
        "error": pa.array(results.error, pa.string()),
    }))
