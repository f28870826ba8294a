-- fields: one row per data row with every mapped field, formatted (the phone's results join on
-- row_number: phone_lookup).
-- Blank values (whitespace only: _text.sql) are never passed to a formatting macro; a macro
-- returning NULL for a non-blank value marks a formatting failure (rejected later as
-- format_error:<field>).
-- Rendered with identifiers only (Jinja); values are bound parameters ($value_N).
-- raw_phone: for a campaign of users, the phone cell, whose blank value is no reason.
-- source: the rows of this chunk (a view over raw_rows, see ingest.py).
-- A query, not a table: 02_row_checks.sql includes it as its `fields` CTE, so the formatted
-- fields are never materialised on their own.
{%- from "ingest/_text.sql" import blank %}
with sourced as (
    select
        row_number
        {%- if key.column == "user_key" and phone_column %},
        {{ phone_column }} as raw_phone
        {%- endif %}
        {%- for field in fields %},
        {{ field.source_sql }} as raw_{{ loop.index }}
        {%- endfor %}
    from {{ source }}
)
select
    row_number
    {%- if key.column == "user_key" and phone_column %},
    raw_phone
    {%- endif %}
    {%- for field in fields %},
    raw_{{ loop.index }},
    {%- if field.format %}
    case when {{ blank("raw_" ~ loop.index) }} then raw_{{ loop.index }}
         else fmt_{{ field.format }}(raw_{{ loop.index }}) end as value_{{ loop.index }},
    (not {{ blank("raw_" ~ loop.index) }}
        and fmt_{{ field.format }}(raw_{{ loop.index }}) is null) as format_failed_{{ loop.index }}
    {%- else %}
    raw_{{ loop.index }} as value_{{ loop.index }},
    false as format_failed_{{ loop.index }}
    {%- endif %}
    {%- endfor %}
from sourced
