"""One meaning of "empty" everywhere: a value made only of whitespace, as Python's
``str.isspace`` counts it, is blank in the SQL checks (sql/ingest/_text.sql) as in Python."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import jinja2
import pyarrow as pa

from cohortflow.ingest.raw import is_blank
from cohortflow.settings import get_settings

SQL_DIR = Path(get_settings().sql_dir)


def sql_blank(values: list[str]) -> list[bool]:
    """``blank(v)`` of sql/ingest/_text.sql for each of ``values``, in order."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(SQL_DIR))
    test = environment.from_string(
        '{% from "ingest/_text.sql" import blank %}{{ blank("v") }}').render()
    conn = duckdb.connect()
    conn.register("t", pa.table({"i": list(range(len(values))), "v": values}))
    return [row[0] for row in conn.execute(f"select {test} from t order by i").fetchall()]


def test_every_character_python_calls_whitespace_is_blank_in_sql_and_no_other():
    characters = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]

    assert [c for c, blank in zip(characters, sql_blank(characters), strict=True)
            if blank != c.isspace()] == []


def test_blank_means_none_empty_or_whitespace_only():
    assert [is_blank(v) for v in (None, "", " \t\r\n\u00a0\u3000", "a", " a ", "\u200b")] == [
        True, True, True, False, False, False]
