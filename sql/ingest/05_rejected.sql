-- rejected: the original columns, in original order, with the original values, neutralised
-- against spreadsheet formula injection, plus the reasons; in file order.
select
    {%- for column in columns %}
    fmt_csv_safe(raw_rows.{{ column.source }}) as {{ column.header | ident }},
    {%- endfor %}
    fmt_csv_safe(array_to_string(final.reasons, '; ')) as rejected_reason
from raw_rows
join final using (row_number)
where len(final.reasons) > 0
order by row_number
