"""Formatting macros (sql/macros/formatters.sql) and their loader."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from cohortflow.errors import ConfigError
from cohortflow.render.formatters import (
    MacroFiles,
    available_formatters,
    format_expression,
    load_macros,
)

Formatter = Callable[[str, str | None], str | None]

SQL_DIR = Path(__file__).resolve().parents[3] / "sql"


@pytest.fixture(scope="module")
def conn() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    load_macros(connection, SQL_DIR)
    yield connection
    connection.close()


@pytest.fixture
def fmt(conn: duckdb.DuckDBPyConnection) -> Formatter:
    """Apply one formatter to one value through SQL."""

    def apply(name: str, value: str | None) -> str | None:
        row = conn.execute(f"select {format_expression(name, '$value')}", {"value": value})
        result = row.fetchone()
        assert result is not None
        return result[0]

    return apply


# --- loader -------------------------------------------------------------------------------


def test_required_formatters_are_available(conn: duckdb.DuckDBPyConnection) -> None:
    assert available_formatters(conn) >= {
        "trim",
        "upper",
        "lower",
        "title_case",
        "digits_only",
        "iso_date",
        "iso_date_us",
        "amount",
        "csv_safe",
    }


def test_helper_macros_are_not_formatters(conn: duckdb.DuckDBPyConnection) -> None:
    assert not any(name.startswith("_") for name in available_formatters(conn))


def test_loading_twice_is_harmless(conn: duckdb.DuckDBPyConnection) -> None:
    load_macros(conn, SQL_DIR)
    assert "amount" in available_formatters(conn)


def test_macros_load_on_a_read_only_database(tmp_path: Path) -> None:
    database = tmp_path / "catalog.duckdb"
    duckdb.connect(str(database)).close()
    with duckdb.connect(str(database), read_only=True) as read_only:
        load_macros(read_only, SQL_DIR)
        assert "title_case" in available_formatters(read_only)


def test_macro_files_run_in_name_order_and_may_add_formatters(tmp_path: Path) -> None:
    macros = tmp_path / "macros"
    macros.mkdir()
    (macros / "01_base.sql").write_text("create or replace temp macro fmt_shout(x) as upper(x);")
    (macros / "02_more.sql").write_text(
        "create or replace temp macro fmt_shout(x) as upper(x) || '!';\n"
        "create or replace temp macro fmt_twice(x) as x || x;"
    )
    with duckdb.connect() as fresh:
        load_macros(fresh, tmp_path)
        assert available_formatters(fresh) == {"shout", "twice"}
        assert fresh.execute("select fmt_shout('hi')").fetchone() == ("HI!",)


def test_broken_macro_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    macros = tmp_path / "macros"
    macros.mkdir()
    (macros / "bad.sql").write_text("create temp macro fmt_bad(x) as (;")
    with duckdb.connect() as fresh, pytest.raises(ConfigError, match=r"bad\.sql"):
        load_macros(fresh, tmp_path)


def _macro_folder(tmp_path: Path) -> Path:
    macros = tmp_path / "macros"
    macros.mkdir()
    (macros / "01_helpers.sql").write_text(
        "-- a helper\ncreate or replace temp macro _fmt_strip(x) as trim(x);\n"
        "create or replace temp table fmt_lookup as select 'A' as code;  -- not a macro\n")
    (macros / "02_formatters.sql").write_text(
        "/* shouting */ create or replace temp macro fmt_shout(x) as upper(_fmt_strip(x));\n"
        "CREATE OR REPLACE TEMP MACRO fmt_code(x) AS (select max(code) from fmt_lookup);\n"
        "create or replace temp macro fmt_broken(x) as no_such_function(x);\n")
    return tmp_path


def _macros_on(conn: duckdb.DuckDBPyConnection) -> set[str]:
    return {name for (name,) in conn.execute(
        "select distinct function_name from duckdb_functions() where function_type = 'macro' "
        "and function_name like '%fmt_%'").fetchall()}


def test_only_the_macros_asked_for_and_what_they_call_are_defined(tmp_path: Path) -> None:
    files = MacroFiles.read(duckdb.connect(), _macro_folder(tmp_path))

    assert files.formatters() == {"shout", "code", "broken"}
    with duckdb.connect() as fresh:
        files.define(fresh, ["fmt_shout"])
        assert _macros_on(fresh) == {"fmt_shout", "_fmt_strip"}
        assert fresh.execute("select fmt_shout(' hi ')").fetchone() == ("HI",)
        assert fresh.execute("select code from fmt_lookup").fetchone() == ("A",)


def test_a_broken_macro_fails_only_the_cohorts_that_use_it(tmp_path: Path) -> None:
    files = MacroFiles.read(duckdb.connect(), _macro_folder(tmp_path))

    with duckdb.connect() as fresh:
        files.define(fresh, ["fmt_code"])
        assert fresh.execute("select fmt_code('x')").fetchone() == ("A",)
        with pytest.raises(ConfigError, match=r"02_formatters\.sql: could not define"):
            files.define(fresh, ["fmt_broken"])
    with duckdb.connect() as fresh, pytest.raises(ConfigError, match=r"02_formatters\.sql"):
        files.define(fresh)  # all of them, as load_macros does


def test_formatters_are_checked_against_the_files_before_any_is_defined(tmp_path: Path) -> None:
    files = MacroFiles.read(duckdb.connect(), _macro_folder(tmp_path))

    files.check(["shout", "code"])
    with pytest.raises(ConfigError, match=r"unknown formatter 'shouting'; available: broken, "
                                          r"code, shout"):
        files.check(["shout", "shouting"])


def test_the_pipeline_defines_fmt_csv_safe_and_the_mappings_formatters_only() -> None:
    from cohortflow.ingest.outputs import OUTPUT_MACROS

    files = MacroFiles.read(duckdb.connect(), SQL_DIR)
    with duckdb.connect() as fresh:
        files.define(fresh, [*OUTPUT_MACROS, "fmt_title_case"])
        defined = _macros_on(fresh)
    assert {"fmt_csv_safe", "fmt_title_case", "_fmt_title_word"} <= defined
    assert not {"fmt_amount", "fmt_iso_date", "fmt_upper"} & defined
    output_sql = (SQL_DIR / "ingest" / "06_rejected.sql").read_text()
    called = set(re.findall(r"\b(fmt_[a-z0-9_]+)\(", output_sql))
    assert called == set(OUTPUT_MACROS)


def test_format_expression_calls_the_macro() -> None:
    assert format_expression("title_case", '"name"') == 'fmt_title_case("name")'


@pytest.mark.parametrize("name", ["Title", "title case", "x);drop table t;--", "", "1st"])
def test_format_expression_refuses_non_identifiers(name: str) -> None:
    with pytest.raises(ConfigError, match="not a formatter name"):
        format_expression(name, "x")


def test_known_formatters_pass_the_check() -> None:
    files = MacroFiles.read(duckdb.connect(), SQL_DIR)
    files.check(["title_case", "amount"])
    files.check([])


def test_the_check_reads_the_files_not_a_connections_catalog() -> None:
    parser = duckdb.connect()
    files = MacroFiles.read(parser, SQL_DIR)
    parser.close()  # nothing is defined anywhere: the names come from the files
    files.check(["title_case"])


@pytest.mark.parametrize("name", ["Title", "x);drop table t;--"])
def test_the_check_refuses_names_that_are_not_identifiers(name: str) -> None:
    with pytest.raises(ConfigError, match="not a formatter name"):
        MacroFiles.read(duckdb.connect(), SQL_DIR).check([name])


def test_unknown_formatter_is_named_with_the_available_ones() -> None:
    with pytest.raises(ConfigError) as raised:
        MacroFiles.read(duckdb.connect(), SQL_DIR).check(["title_case", "titlecase"])
    message = str(raised.value)
    assert "'titlecase'" in message
    assert "available: amount, csv_safe, digits_only" in message


# --- trim, upper, lower ---------------------------------------------------------------------


def test_trim_removes_unicode_spaces_at_both_ends(fmt: Formatter) -> None:
    assert fmt("trim", "\u00a0 Asha Rao \u200b") == "Asha Rao"


def test_upper(fmt: Formatter) -> None:
    assert fmt("upper", "élodie") == "ÉLODIE"


def test_lower(fmt: Formatter) -> None:
    assert fmt("lower", "ÉLODIE") == "élodie"


# --- title_case -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("asha RAO", "Asha Rao"),
        ("ÉLODIE dupont", "Élodie Dupont"),
        ("jean-luc picard", "Jean-Luc Picard"),
        ("o'brien", "O'Brien"),
        ("d’souza", "D’Souza"),
        ("don't stop", "Don't Stop"),
        ("  two   spaces ", "  Two   Spaces "),
        ("ravi123", "Ravi123"),
    ],
)
def test_title_case(fmt: Formatter, raw: str, expected: str) -> None:
    assert fmt("title_case", raw) == expected


# --- digits_only ----------------------------------------------------------------------------


def test_digits_only_keeps_digits(fmt: Formatter) -> None:
    assert fmt("digits_only", "+91 (98765) 43210") == "919876543210"


def test_digits_only_converts_full_width_digits(fmt: Formatter) -> None:
    assert fmt("digits_only", "９８７-６５") == "98765"


def test_digits_only_without_digits_is_null(fmt: Formatter) -> None:
    assert fmt("digits_only", "n/a") is None


# --- iso_date -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "2024-02-03",
        "2024/02/03",
        "2024.2.3",
        "20240203",
        "03/02/2024",
        "3/2/2024",
        "03-02-2024",
        "03.02.2024",
        "3 Feb 2024",
        "3rd February 2024",
        "03-Feb-2024",
        "Feb 3 2024",
        "February 3rd, 2024",
        "2024-02-03 00:00:00",
        "2024-02-03T10:30:00Z",
        " 03/02/2024 ",
    ],
)
def test_iso_date_reads_common_orders(fmt: Formatter, raw: str) -> None:
    assert fmt("iso_date", raw) == "2024-02-03"


def test_iso_date_is_day_first_for_slashes(fmt: Formatter) -> None:
    assert fmt("iso_date", "01/12/2024") == "2024-12-01"


def test_iso_date_us_is_month_first_for_slashes_and_dashes(fmt: Formatter) -> None:
    assert fmt("iso_date_us", "01/12/2024") == "2024-01-12"
    assert fmt("iso_date_us", "02-13-2024") == "2024-02-13"


def test_iso_date_us_keeps_dotted_dates_day_first(fmt: Formatter) -> None:
    assert fmt("iso_date_us", "03.02.2024") == "2024-02-03"


def test_iso_date_accepts_leap_day(fmt: Formatter) -> None:
    assert fmt("iso_date", "29/02/2024") == "2024-02-29"


@pytest.mark.parametrize(
    "raw", ["31/02/2024", "29/02/2023", "2024-13-01", "32.01.2024", "13/13/2024", "31 Apr 2024"]
)
def test_iso_date_impossible_dates_are_null(fmt: Formatter, raw: str) -> None:
    assert fmt("iso_date", raw) is None


def test_iso_date_us_impossible_month_is_null(fmt: Formatter) -> None:
    assert fmt("iso_date_us", "13/02/2024") is None


@pytest.mark.parametrize(
    "raw", ["soon", "03/02/24", "2024-02/03", "2024-02-03 garbage", "Febtober 3 2024", "12345"]
)
def test_iso_date_garbage_is_null(fmt: Formatter, raw: str) -> None:
    assert fmt("iso_date", raw) is None


# --- amount ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1234", "1234"),
        ("1234.56", "1234.56"),
        ("1,234,567.89", "1234567.89"),
        ("1,23,456.78", "123456.78"),
        ("12,34,567", "1234567"),
        ("₹1,23,456.78", "123456.78"),
        ("Rs. 1,000", "1000"),
        ("INR 2,500.50", "2500.50"),
        ("USD 1,234", "1234"),
        ("$ 99.99", "99.99"),
        ("£1,000,000", "1000000"),
        ("1.234,56 €", "1234.56"),
        ("1.234.567", "1234567"),
        ("1234,5", "1234.5"),
        ("1 234 567,89", "1234567.89"),
        ("-₹500", "-500"),
        ("₹ -500", "-500"),
        ("(1,000.00)", "-1000.00"),
        ("007", "7"),
        (".5", "0.5"),
    ],
)
def test_amount_to_plain_decimal(fmt: Formatter, raw: str, expected: str) -> None:
    assert fmt("amount", raw) == expected


@pytest.mark.parametrize(
    "raw", ["abc", "₹", "1,2,3", "1,234,56", "12.", "--5", "(-5)", "5 apples", "1.2.3,4,5"]
)
def test_amount_garbage_is_null(fmt: Formatter, raw: str) -> None:
    assert fmt("amount", raw) is None


# --- csv_safe -------------------------------------------------------------------------------


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_safe_prefixes_a_quote_to_formula_triggers(fmt: Formatter, trigger: str) -> None:
    value = f'{trigger}HYPERLINK("http://x")'
    assert fmt("csv_safe", value) == "'" + value


def test_csv_safe_keeps_ordinary_text(fmt: Formatter) -> None:
    assert fmt("csv_safe", "a=b+c") == "a=b+c"


def test_csv_safe_keeps_null(fmt: Formatter) -> None:
    assert fmt("csv_safe", None) is None


# --- the convention -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["trim", "upper", "lower", "title_case", "digits_only", "amount"])
def test_formatters_do_not_fail_on_null(fmt: Formatter, name: str) -> None:
    assert fmt(name, None) is None


def test_formatters_apply_to_a_whole_column(conn: duckdb.DuckDBPyConnection) -> None:
    rows = conn.execute(
        f"""
        select {format_expression("amount", "raw")} as amount
        from (values ('1,23,456.78'), ('garbage'), ('₹ 10')) as cohort(raw)
        """
    ).fetchall()
    assert rows == [("123456.78",), (None,), ("10",)]
