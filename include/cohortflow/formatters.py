"""Formatting functions of cohort mappings: DuckDB macros named ``fmt_<name>``.

The macros live in ``sql/macros/*.sql`` (see the convention at the top of
``sql/macros/formatters.sql``). A mapping's ``"format": "title_case"`` becomes the SQL
expression ``fmt_title_case(<column>)``, which returns NULL when the value cannot be formatted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import duckdb

from cohortflow.errors import ConfigError

MACRO_PREFIX = "fmt_"
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def macros_dir(sql_dir: Path) -> Path:
    """The folder of macro files: ``<sql_dir>/macros``, or ``sql_dir`` itself if it has none."""
    nested = sql_dir / "macros"
    return nested if nested.is_dir() else sql_dir


def load_macros(conn: duckdb.DuckDBPyConnection, sql_dir: Path) -> list[Path]:
    """Run every ``*.sql`` file of ``<sql_dir>/macros`` on ``conn``, in name order.

    Each file is one script of ``;``-separated statements (DuckDB runs them all in one
    ``execute``). The macros are TEMP: they exist for this connection only, so read-only
    connections work and nothing is written to the database. Loading twice is harmless.
    Returns the files run; a file DuckDB rejects raises :class:`ConfigError` naming it.
    """
    files = sorted(macros_dir(sql_dir).glob("*.sql"))
    for path in files:
        try:
            conn.execute(path.read_text(encoding="utf-8"))
        except duckdb.Error as exc:
            raise ConfigError(f"{path}: could not define the macros: {exc}") from exc
    return files


def available_formatters(conn: duckdb.DuckDBPyConnection) -> set[str]:
    """Names (without ``fmt_``) of the one-argument ``fmt_*`` macros defined on ``conn``."""
    rows = conn.execute(
        """
        select distinct function_name
        from duckdb_functions()
        where function_type = 'macro'
          and starts_with(function_name, $prefix)
          and len(parameters) = 1
        """,
        {"prefix": MACRO_PREFIX},
    ).fetchall()
    return {name.removeprefix(MACRO_PREFIX) for (name,) in rows}


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"format: {name!r} is not a formatter name "
            "(lower-case letters, digits and '_', starting with a letter)"
        )


def check_formatters(conn: duckdb.DuckDBPyConnection, names: Iterable[str]) -> None:
    """Raise :class:`ConfigError` unless every name is a formatter defined on ``conn``.

    The message names each unknown formatter and lists the available ones.
    """
    wanted = list(names)
    if not wanted:  # nothing to look up (listing the catalog's functions takes ~20 ms)
        return
    for name in wanted:
        _check_name(name)
    available = available_formatters(conn)
    unknown = sorted(set(wanted) - available)
    if unknown:
        listed = ", ".join(sorted(available)) or "none (were the macros loaded?)"
        raise ConfigError(
            f"format: unknown formatter {', '.join(repr(n) for n in unknown)}; available: {listed}"
        )


def format_expression(name: str, column_sql: str) -> str:
    """The SQL expression applying formatter ``name`` to ``column_sql`` (``fmt_<name>(...)``).

    ``name`` must be an identifier (else :class:`ConfigError`); whether the macro exists is
    checked by :func:`check_formatters`. ``column_sql`` is trusted SQL (a quoted column name
    or an expression built by the pipeline), never user data.
    """
    _check_name(name)
    return f"{MACRO_PREFIX}{name}({column_sql})"
