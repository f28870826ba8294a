"""Do-not-contact lists: a CSV of numbers (with a phone header, or one number per line)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from cohortflow.config import PHONE_HEADERS
from cohortflow.errors import ConfigError
from cohortflow.phones import normalize_phones


def load_dnc_numbers(path: Path, region: str) -> pa.Array:
    """The distinct valid E.164 numbers of a DNC file; unparseable entries are skipped.

    The phone column is the first header among the usual phone names, else the first column;
    a file whose first line is itself a number is read as a headerless list.
    """
    if not path.is_file():
        raise ConfigError(f"{path}: do-not-contact list not found; fix the campaign's 'dnc' path")
    conn = duckdb.connect()
    try:
        first = path.open(encoding="utf-8-sig", errors="replace").readline().strip()
        has_header = not any(ch.isdigit() for ch in first) or any(
            first.split(",")[0].strip().strip('"') == name for name in PHONE_HEADERS
        )
        table = conn.sql(
            "select * from read_csv($path, all_varchar = true, header = $header, "
            "null_padding = true, strict_mode = false)",
            params={"path": str(path), "header": has_header},
        ).to_arrow_table()
    except duckdb.Error as exc:
        raise ConfigError(f"{path}: do-not-contact list cannot be read: {exc}") from None
    finally:
        conn.close()
    if table.num_columns == 0 or table.num_rows == 0:
        return pa.array([], pa.string())
    names = table.column_names
    column = next((n for p in PHONE_HEADERS for n in names if n == p), names[0])
    values = table.column(column).combine_chunks().drop_null().unique()
    normalized = normalize_phones(values, region).column("e164").combine_chunks()
    return normalized.drop_null().unique()
