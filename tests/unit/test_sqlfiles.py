"""SQL templates (cohortflow.sqlfiles): identifiers and literals quoted, values bound."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from cohortflow import sqlfiles
from cohortflow.sqlfiles import execute_script, quote_identifier, quote_literal, render_sql


@pytest.fixture()
def sql_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder of SQL templates."""
    folder = tmp_path / "sql"
    folder.mkdir()
    (folder / "q.sql").write_text("select {{ column | ident }} from t\n")
    sqlfiles._environment.cache_clear()
    yield folder
    sqlfiles._environment.cache_clear()


def test_identifiers_are_double_quoted(sql_dir: Path) -> None:
    assert render_sql(sql_dir, "q.sql", column='a "b"') == 'select "a ""b""" from t\n'
    assert quote_identifier("x") == '"x"'


def test_literals_are_single_quoted() -> None:
    assert quote_literal("it's") == "'it''s'"


def test_an_edited_template_is_compiled_again(sql_dir: Path) -> None:
    render_sql(sql_dir, "q.sql", column="x")
    sqlfiles._environment.cache_clear()
    (sql_dir / "q.sql").write_text("select {{ column | literal }} as v\n")
    assert render_sql(sql_dir, "q.sql", column="x") == "select 'x' as v\n"


def test_a_missing_name_is_an_error_not_an_empty_string(sql_dir: Path) -> None:
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        render_sql(sql_dir, "q.sql")


def test_a_script_binds_only_the_parameters_each_statement_uses() -> None:
    conn = duckdb.connect()
    execute_script(conn, "create table t (v varchar);\n-- a comment\n"
                   "insert into t values ($value);\n", {"value": "x", "unused": 1})
    assert conn.execute("select v from t").fetchall() == [("x",)]
