"""Load the SQL the pipeline runs from ``sql/``.

SQL files are Jinja templates for *identifiers only* (column lists that depend on the mapping);
every value is a bound parameter (``$name``). Two filters quote safely: ``ident`` for names and
``literal`` for constant strings produced by cohortflow itself.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import jinja2


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@lru_cache(maxsize=4)
def _environment(sql_dir: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(sql_dir),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["ident"] = quote_identifier
    env.filters["literal"] = quote_literal
    return env


def render_sql(sql_dir: Path, name: str, **context: Any) -> str:
    """Render ``sql/<name>`` with ``context`` (identifiers and cohortflow's own constants)."""
    return _environment(str(sql_dir)).get_template(name).render(**context)


_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def execute_script(
    conn: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> None:
    """Run every ``;``-separated statement of ``sql``, binding the parameters each one uses."""
    params = params or {}
    for statement in sql.split(";\n"):
        body = "\n".join(
            line for line in statement.splitlines() if not line.strip().startswith("--")
        ).strip()
        if not body:
            continue
        used = {name: params[name] for name in set(_PARAMETER.findall(body)) if name in params}
        conn.execute(body, used)
