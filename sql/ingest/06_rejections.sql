-- rejections: one row per rejected data row for the catalog: its number, reasons, the code of
-- the first reason, and the original values as a JSON object keyed by header.
select
    final.row_number,
    final.rejected_reason,
    split_part(final.rejected_reason, ': ', 1) as reason_code,
    json_object(
        {%- for column in columns %}
        {{ column.header | literal }}, {{ source }}.{{ column.source }}{{ "," if not loop.last }}
        {%- endfor %}
    )::varchar as record
from {{ source }}
join final_all as final using (row_number)
where final.rejected_reason is not null
order by row_number
