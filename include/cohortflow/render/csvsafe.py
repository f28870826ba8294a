"""Neutralise spreadsheet formula injection (OWASP "CSV injection") in cells we write.

A cell starting with ``=``, ``+``, ``-``, ``@``, TAB or CR is prefixed with a single quote, so a
spreadsheet shows it as text; the original value is the cell without that first quote.
The SQL twin is the macro ``fmt_csv_safe`` in ``sql/macros/formatters.sql``.
"""

from __future__ import annotations

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str | None) -> str | None:
    """``value`` made safe to open in a spreadsheet; None stays None."""
    if value is None:
        return None
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value
