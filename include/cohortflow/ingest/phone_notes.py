"""What a phone cell holds besides its number: an extension, or a second number.

``phonenumbers.parse`` keeps the number and sets an extension aside (``+91 98765 43210 ext 12``,
``9876543210 x12``); it also reads ``9876543212;9876543213`` as one number with the extension
``9876543213``. The phone lookup keeps only the E.164 number, so without this step the
extension, or the second number, would be dropped without a word. Here each cell that was
valid and could hold one (the phone lookup's ``no_extension`` is false: anything but digits,
spaces and ``+ ( ) . - /`` after the text in front of the number) is parsed again:
an extension that is itself a valid number of the region is a second number (the row is
rejected), any other extension goes to the recipients' ``phone_extension`` column.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import phonenumbers
import pyarrow as pa

from cohortflow.sqlfiles import render_sql


def extension_of(value: str, region: str) -> tuple[str | None, bool]:
    """The extension phonenumbers reads in ``value`` and whether it is a second number."""
    try:
        extension = phonenumbers.parse(value, region).extension
    except phonenumbers.NumberParseException:
        return None, False
    if not extension:
        return None, False
    try:
        second = phonenumbers.is_valid_number(phonenumbers.parse(extension, region))
    except phonenumbers.NumberParseException:
        second = False
    return extension, second


def create_phone_notes(
    conn: duckdb.DuckDBPyConnection, sql_dir: Path, phone_column: str, region: str
) -> None:
    """Create ``phone_notes(row_number, extension, second_number)`` for the rows of
    ``chunk_rows`` whose valid phone cell (``phone_lookup``) holds an extension."""
    query = render_sql(sql_dir, "ingest/02_phone_candidates.sql", phone_column=phone_column)
    candidates = [value for (value,) in conn.execute(query).fetchall()]
    notes = [extension_of(value, region) for value in candidates]
    conn.register("_phone_candidates", pa.table({
        "raw": pa.array(candidates, pa.string()),
        "extension": pa.array([extension for extension, _ in notes], pa.string()),
        "second_number": pa.array([second for _, second in notes], pa.bool_()),
    }))
    conn.execute(
        "create or replace temp table phone_notes as "
        "select chunk_rows.row_number, extension, second_number "
        f"from chunk_rows join _phone_candidates on chunk_rows.{phone_column} = raw "
        "where extension is not null")
    conn.unregister("_phone_candidates")


def create_empty_phone_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """The phone tables the row checks join, empty: the cohort has no phone column."""
    conn.execute("create or replace temp table phone_lookup (row_number bigint, e164 varchar, "
                 "region varchar, error varchar, undecided boolean, no_extension boolean)")
    conn.execute("create or replace temp table phone_notes (row_number bigint, "
                 "extension varchar, second_number boolean)")
