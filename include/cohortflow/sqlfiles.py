"""Load the SQL the pipeline runs from ``sql/``.

SQL files are Jinja templates for *identifiers only* (column lists that depend on the mapping);
every value is a bound parameter (``$name``). Two filters quote safely: ``ident`` for names and
``literal`` for constant strings produced by cohortflow itself. Compiled templates are kept
between runs in ``COHORTFLOW_CACHE_DIR`` (:func:`template_cache`).
"""

from __future__ import annotations

import logging
import os
import re
import stat
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import jinja2
from jinja2.bccache import Bucket

from cohortflow.settings import get_settings

log = logging.getLogger(__name__)


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


class TemplateCache(jinja2.FileSystemBytecodeCache):
    """Jinja's cache of compiled templates in a folder: a template is compiled once, not in
    every process (a task, a command), and compiled again when its source changes (each
    entry holds a checksum of the source it was compiled from). A folder that cannot be
    written never fails a render: what cannot be kept is compiled again next time."""

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError as exc:
            log.debug("compiled template %s not kept: %s", bucket.key, exc)


def template_cache(kind: str) -> TemplateCache | None:
    """The cache of an environment of cohortflow's own templates (``kind``: ``sql``,
    ``pages``): ``COHORTFLOW_CACHE_DIR``/templates, its entries named after ``kind`` and
    Jinja's version (an environment's options shape its compiled code). None when the setting
    is empty, the folder cannot be made, or it is not this user's own (its entries are
    executed: a folder others may write to is not used). Never for templates users write."""
    cache_dir = get_settings().cache_dir
    if not cache_dir:
        return None
    folder = Path(cache_dir).expanduser() / "templates"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = folder.lstat()
    except OSError as exc:
        log.debug("no cache of compiled templates in %s: %s", folder, exc)
        return None
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid() \
            or status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        log.warning("templates are compiled in every run: %s is not a folder only its owner "
                    "(this user) may write to; remove it, or set COHORTFLOW_CACHE_DIR to "
                    "another folder", folder)
        return None
    return TemplateCache(str(folder), f"{kind}-{jinja2.__version__}-%s.cache")


@lru_cache(maxsize=4)
def _environment(sql_dir: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(sql_dir),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        bytecode_cache=template_cache("sql"),
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
