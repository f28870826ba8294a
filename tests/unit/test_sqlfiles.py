"""SQL templates (cohortflow.sqlfiles): rendering, and the cache of compiled templates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest

from cohortflow import sqlfiles
from cohortflow.sqlfiles import render_sql


@pytest.fixture()
def sql_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder of SQL templates, with the compiled-template cache in this test's temp dir."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    folder = tmp_path / "sql"
    folder.mkdir()
    (folder / "q.sql").write_text("select {{ column | ident }} from t\n")
    sqlfiles._environment.cache_clear()
    yield folder
    sqlfiles._environment.cache_clear()


def _cached(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "tmp").glob("_jinja2-cache-*/cohortflow-sql-*.cache"))


def test_a_compiled_template_is_cached_for_the_next_process(sql_dir: Path, tmp_path: Path) -> None:
    assert render_sql(sql_dir, "q.sql", column="a b") == 'select "a b" from t\n'
    assert len(_cached(tmp_path)) == 1
    sqlfiles._environment.cache_clear()  # as in a new process
    compiled = _cached(tmp_path)[0].read_bytes()
    assert render_sql(sql_dir, "q.sql", column="x") == 'select "x" from t\n'
    assert _cached(tmp_path)[0].read_bytes() == compiled  # loaded, not compiled again


def test_an_edited_template_is_compiled_again(sql_dir: Path, tmp_path: Path) -> None:
    render_sql(sql_dir, "q.sql", column="x")
    sqlfiles._environment.cache_clear()
    (sql_dir / "q.sql").write_text("select {{ column | literal }} as v\n")
    assert render_sql(sql_dir, "q.sql", column="x") == "select 'x' as v\n"


def test_a_cache_that_cannot_be_written_is_skipped(
    sql_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "dump_bytecode", full_disk)
    assert render_sql(sql_dir, "q.sql", column="x") == 'select "x" from t\n'
    assert _cached(tmp_path) == []


def test_without_a_safe_temp_folder_templates_are_compiled_each_time(
    sql_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsafe(self: object, *args: object, **kwargs: object) -> None:
        raise RuntimeError("Cannot determine safe temp directory.")

    monkeypatch.setattr(sqlfiles._BytecodeCache, "__init__", unsafe)
    assert sqlfiles.bytecode_cache() is None
    assert render_sql(sql_dir, "q.sql", column="x") == 'select "x" from t\n'
