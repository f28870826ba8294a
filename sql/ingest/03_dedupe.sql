-- final: adds duplicate_phone, judged among rows that pass every other check (render included):
-- the first occurrence of a number is kept, later ones name the kept row, also across chunks
-- (seen: phone_key, kept_row of earlier chunks). Numbers are compared as integers (phone_key):
-- grouping and joining them is faster than strings, and they take less memory. For a
-- campaign of users the key is the user identifier (key.column user_key) and a repeat is
-- duplicate_user. One row per
-- data row of the chunk, in file order, with only what the outputs need beside the file's own
-- cells: the number as phone_key only, formatted and fixed values, the Jinja renders,
-- rejected_reason the reasons joined by '; ' (NULL for a recipient); ingest/process.py keeps
-- them as `final_chunk` while the chunk's outputs are written.
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
),
kept_here as (  -- per number, the first row of this chunk that passes, and how many pass
                -- (an aggregate: cheaper than a window)
    select {{ key.column }}, min(row_number) as kept_row, count(*) as passing
    from rendered_checks
    where reasons is null
    group by {{ key.column }}
),
kept as (  -- only the numbers that repeat: twice in this chunk, or kept by an earlier chunk
           -- (whose row is the one kept). Most numbers occur once: the join below then
           -- looks rows up in a table of the few repeated numbers, not of every number.
    select kept_here.{{ key.column }}, coalesce(seen.kept_row, kept_here.kept_row) as kept_row
    from kept_here
    left join seen using ({{ key.column }})
    where kept_here.passing > 1 or seen.kept_row is not null
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
    case when reasons is null and kept.kept_row < rendered_checks.row_number
         then {{ key.reason | literal }} || ' ' || kept.kept_row || ', which is kept'
         else reasons end as rejected_reason
from rendered_checks
left join kept using ({{ key.column }})
order by row_number  -- in file order, as chunk_raw is
