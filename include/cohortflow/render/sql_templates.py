"""Simple message templates rendered as SQL string concatenation instead of Jinja per row.

A template made only of literal text and bare variables (``"Hi {{ name }}, ..."``, see
:meth:`cohortflow.render.jinja.MessageTemplate.simple_parts`) renders, in Jinja, as the texts and
the variables' values side by side, with ``""`` for an empty cell (``None``). That is exactly
``concat('Hi ', name, ', ...')`` in SQL (``concat`` skips NULLs), which DuckDB evaluates for a
million rows in a fraction of a second: one string built per row, where a chain of ``||``
builds one per operator. Such a render cannot fail. Anything else (filters, tags, expressions,
layouts) stays on Jinja. ``tests/unit/render/test_sql_templates.py`` checks the equality with
hypothesis.
"""

from __future__ import annotations

from collections.abc import Mapping

from cohortflow.render.jinja import MessageTemplate
from cohortflow.sqlfiles import quote_literal


def message_expression(template: MessageTemplate, columns: Mapping[str, str]) -> str | None:
    """The SQL expression rendering ``template``, or None when it is not a simple template.

    ``columns`` maps each variable name to the (trusted) SQL column holding its text; a
    variable without a column also gives None (Jinja would raise, so Jinja must run).
    """
    parts = template.simple_parts()
    if parts is None:
        return None
    pieces: list[str] = []
    for kind, value in parts:
        if kind == "text":
            if not _utf8(value):
                return None  # e.g. a lone surrogate: DuckDB holds UTF-8 only; Jinja renders it
            pieces.append(quote_literal(value))
        elif value in columns:
            pieces.append(f"{columns[value]}::varchar")
        else:
            return None
    return f"concat({', '.join(pieces)})" if pieces else "''"


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
