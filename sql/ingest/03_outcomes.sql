-- outcomes: one row per data row of the chunk, in file order, with only what the outputs need
-- beside the file's own cells: the number as phone_key only (an integer: grouping and joining
-- numbers is faster than strings, and they take less memory; for a campaign of users the key
-- is the user identifier, key.column user_key), formatted and fixed values, the Jinja
-- renders, rejected_reason the reasons joined by '; ' (NULL for a row that passes);
-- ingest/process.py keeps them as `final_chunk` while the chunk's outputs are written, once
-- 03_duplicates.sql has marked the repeats among the rows that pass.
-- Either `checked` is this query's own CTE (02_row_checks.sql) and a simple template's message
-- is rendered later, from the stored fields, by 04_recipients.sql (message_sql); or `checked`
-- is a table, with rendered(row_number, message, payload, render_error) holding the Jinja
-- renders.
with
{%- if message_sql %}
checked as (
{% include "ingest/02_row_checks.sql" %}
),
{%- endif %}
rendered_checks as (
    {%- if message_sql %}
    select * from checked  -- a simple template cannot fail: 04_recipients.sql renders it
    {%- else %}
    select
        checked.* exclude (reasons),
        rendered.message,
        rendered.payload,
        case when rendered.render_error is not null
             then concat_ws('; ', checked.reasons, 'render_error: ' || rendered.render_error)
             else checked.reasons end as reasons
    from checked
    left join rendered using (row_number)
    {%- endif %}
)
select
    rendered_checks.row_number,
    rendered_checks.phone_key,
    {%- if key.column != "phone_key" %}
    rendered_checks.{{ key.column }},
    {%- endif %}
    rendered_checks.region,
    rendered_checks.phone_extension,
    -- only the values that are not the file's own cells: formatted or fixed values (the
    -- others are read from chunk_raw when the outputs are written: 04_recipients.sql)
    {%- for field in fields if field.stored %}
    rendered_checks.value_{{ field.index }},
    {%- endfor %}
    {%- if not message_sql %}
    rendered_checks.message,
    rendered_checks.payload,
    {%- endif %}
    reasons as rejected_reason
from rendered_checks
order by row_number  -- in file order, as chunk_raw is
