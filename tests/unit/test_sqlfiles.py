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


def _compiling_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import jinja2

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(jinja2.Environment, "compile", refuse)


def test_a_compiled_template_is_kept_for_the_next_process(
        sql_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHORTFLOW_CACHE_DIR", str(tmp_path / "cache"))
    render_sql(sql_dir, "q.sql", column="x")
    assert [p.name.startswith("sql-") for p in (tmp_path / "cache" / "templates").iterdir()] \
        == [True]
    sqlfiles._environment.cache_clear()  # as a new process would start
    _compiling_fails(monkeypatch)
    assert render_sql(sql_dir, "q.sql", column="y") == 'select "y" from t\n'


def test_an_edited_template_is_not_taken_from_the_cache(
        sql_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHORTFLOW_CACHE_DIR", str(tmp_path / "cache"))
    render_sql(sql_dir, "q.sql", column="x")
    sqlfiles._environment.cache_clear()
    (sql_dir / "q.sql").write_text("select {{ column | literal }} as w\n")
    assert render_sql(sql_dir, "q.sql", column="x") == "select 'x' as w\n"


@pytest.mark.parametrize("setting", ["", "file/below/a/file"])
def test_no_cache_folder_renders_all_the_same(
        setting: str, sql_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("COHORTFLOW_CACHE_DIR", str(tmp_path / setting) if setting else "")
    assert sqlfiles.template_cache("sql") is None
    assert render_sql(sql_dir, "q.sql", column="x") == 'select "x" from t\n'


def test_a_cache_folder_others_may_write_to_is_not_used(
        sql_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "cache" / "templates"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    monkeypatch.setenv("COHORTFLOW_CACHE_DIR", str(tmp_path / "cache"))
    assert sqlfiles.template_cache("sql") is None
    assert "COHORTFLOW_CACHE_DIR" in caplog.text and str(folder) in caplog.text
    assert render_sql(sql_dir, "q.sql", column="x") == 'select "x" from t\n'
    assert not any(folder.iterdir())


def test_a_cache_that_cannot_be_written_renders_all_the_same(
        sql_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    monkeypatch.setenv("COHORTFLOW_CACHE_DIR", str(tmp_path / "cache"))

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", full_disk)
    assert render_sql(sql_dir, "q.sql", column="x") == 'select "x" from t\n'
    assert not any((tmp_path / "cache" / "templates").iterdir())


def test_a_missing_name_is_an_error_not_an_empty_string(sql_dir: Path) -> None:
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        render_sql(sql_dir, "q.sql")


def test_a_script_binds_only_the_parameters_each_statement_uses() -> None:
    conn = duckdb.connect()
    execute_script(conn, "create table t (v varchar);\n-- a comment\n"
                   "insert into t values ($value);\n", {"value": "x", "unused": 1})
    assert conn.execute("select v from t").fetchall() == [("x",)]
