"""Formatting functions of cohort mappings: DuckDB macros named ``fmt_<name>``.

The macros live in ``sql/macros/*.sql`` (see the convention at the top of
``sql/macros/formatters.sql``). A mapping's ``"format": "title_case"`` becomes the SQL
expression ``fmt_title_case(<column>)``, which returns NULL when the value cannot be formatted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cohortflow.errors import ConfigError

MACRO_PREFIX = "fmt_"
_NAME = re.compile(r"[a-z][a-z0-9_]*")
#: The name a statement defines, when it is a ``CREATE [OR REPLACE] [TEMP] MACRO|FUNCTION``.
_DEFINES = re.compile(
    r"\s*create\s+(?:or\s+replace\s+)?(?:temp(?:orary)?\s+)?(?:macro|function)\s+"
    r"([a-z_][a-z0-9_]*)\s*\(", re.IGNORECASE)
_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)
#: The formatters and helpers a statement calls (see the naming rules in formatters.sql).
_CALLS = re.compile(r"\b(_?fmt_[a-z0-9_]*)\s*\(", re.IGNORECASE)


def macros_dir(sql_dir: Path) -> Path:
    """The folder of macro files: ``<sql_dir>/macros``, or ``sql_dir`` itself if it has none."""
    nested = sql_dir / "macros"
    return nested if nested.is_dir() else sql_dir


def load_macros(conn: duckdb.DuckDBPyConnection, sql_dir: Path) -> list[Path]:
    """Run every ``*.sql`` file of ``<sql_dir>/macros`` on ``conn``, in name order.

    Each file is one script of ``;``-separated statements. The macros are TEMP: they exist for
    this connection only, so read-only connections work and nothing is written to the
    database. Loading twice is harmless. Returns the files run; a file DuckDB rejects raises
    :class:`ConfigError` naming it. (:class:`MacroFiles` defines only the macros asked for.)
    """
    files = MacroFiles.read(conn, sql_dir)
    files.define(conn)
    return files.paths


@dataclass(frozen=True)
class MacroStatement:
    """One statement of a macro file: the macro it defines (None for any other statement) and
    the ``fmt_*`` and ``_fmt_*`` macros it calls."""

    path: Path
    sql: str
    defines: str | None
    calls: frozenset[str]


@dataclass(frozen=True)
class MacroFiles:
    """The statements of every ``*.sql`` file of ``<sql_dir>/macros``, in name order, so that a
    connection is given only the macros it uses (:meth:`define`), not every formatter."""

    statements: tuple[MacroStatement, ...]

    @classmethod
    def read(cls, conn: duckdb.DuckDBPyConnection, sql_dir: Path) -> MacroFiles:
        """Split the macro files into statements with DuckDB's parser (on ``conn``); a file it
        cannot parse raises :class:`ConfigError` naming it."""
        statements = []
        for path in sorted(macros_dir(sql_dir).glob("*.sql")):
            try:
                parsed = conn.extract_statements(path.read_text(encoding="utf-8"))
            except duckdb.Error as exc:
                raise ConfigError(f"{path}: could not define the macros: {exc}") from exc
            for statement in parsed:
                defines = _DEFINES.match(_LEADING_COMMENTS.sub("", statement.query, count=1))
                calls = frozenset(name.lower() for name in _CALLS.findall(statement.query))
                statements.append(MacroStatement(
                    path, statement.query, defines.group(1).lower() if defines else None, calls))
        return cls(tuple(statements))

    @property
    def paths(self) -> list[Path]:
        """The files read, in name order."""
        return list(dict.fromkeys(statement.path for statement in self.statements))

    def formatters(self) -> set[str]:
        """Names (without ``fmt_``) of the formatters the files define."""
        return {statement.defines.removeprefix(MACRO_PREFIX) for statement in self.statements
                if statement.defines is not None and statement.defines.startswith(MACRO_PREFIX)}

    def check(self, names: Iterable[str]) -> None:
        """Raise :class:`ConfigError` unless every name is a formatter the files define (the
        message names each unknown formatter and lists the available ones)."""
        _check_known(names, self.formatters())

    def define(self, conn: duckdb.DuckDBPyConnection, names: Iterable[str] | None = None) -> None:
        """Run, in file order, the statements that define ``names`` (macro names such as
        ``fmt_amount``) or a macro those call, and every statement that defines no macro;
        every statement when ``names`` is None. A statement DuckDB rejects raises
        :class:`ConfigError` naming its file."""
        wanted = None if names is None else self._with_callees({n.lower() for n in names})
        for statement in self.statements:
            if wanted is None or statement.defines is None or statement.defines in wanted:
                try:
                    conn.execute(statement.sql)
                except duckdb.Error as exc:
                    raise ConfigError(
                        f"{statement.path}: could not define the macros: {exc}") from exc

    def _with_callees(self, names: set[str]) -> set[str]:
        calls: dict[str, set[str]] = {}
        for statement in self.statements:
            if statement.defines is not None:
                calls.setdefault(statement.defines, set()).update(statement.calls)
        wanted: set[str] = set()
        pending = list(names)
        while pending:
            name = pending.pop()
            if name not in wanted:
                wanted.add(name)
                pending.extend(calls.get(name, ()))
        return wanted


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


def _check_known(wanted: Iterable[str], available: set[str]) -> None:
    names = list(wanted)
    for name in names:
        _check_name(name)
    unknown = sorted(set(names) - available)
    if unknown:
        listed = ", ".join(sorted(available)) or "none (no macro file defines one)"
        raise ConfigError(
            f"format: unknown formatter {', '.join(repr(n) for n in unknown)}; available: {listed}"
        )


def format_expression(name: str, column_sql: str) -> str:
    """The SQL expression applying formatter ``name`` to ``column_sql`` (``fmt_<name>(...)``).

    ``name`` must be an identifier (else :class:`ConfigError`); whether the macro exists is
    checked by :meth:`MacroFiles.check`. ``column_sql`` is trusted SQL (a quoted column name
    or an expression built by the pipeline), never user data.
    """
    _check_name(name)
    return f"{MACRO_PREFIX}{name}({column_sql})"
