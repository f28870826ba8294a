-- rejected: the original columns, in original order, with the original values, neutralised
-- against spreadsheet formula injection, plus the reasons; in file order. Columns keep their
-- positional names (c1, c2, ...): outputs.py writes the header line itself, with the names as
-- the file has them (DuckDB would rename two that differ only in case).
select
    {%- for column in columns %}
    fmt_csv_safe({{ column.source }}) as {{ column.source }},
    {%- endfor %}
    fmt_csv_safe(rejected_reason) as rejected_reason
from rejected_rows  -- in file order already: a plain scan keeps it
