-- rejections: one row per rejected data row for the catalog: its number, reasons, the code of
-- the first reason, and the original values as a JSON object keyed by header.
select
    row_number,
    rejected_reason,
    split_part(rejected_reason, ': ', 1) as reason_code,
    json_object(
        {%- for column in columns %}
        {{ column.header | literal }}, {{ column.source }}{{ "," if not loop.last }}
        {%- endfor %}
    )::varchar as record
from rejected_rows  -- in file order already: a plain scan keeps it
