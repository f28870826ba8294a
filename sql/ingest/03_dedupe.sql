-- final: adds duplicate_phone, judged among rows that pass every other check (render included):
-- the first occurrence of a number is kept, later ones name the kept row, also across chunks.
-- rendered(row_number, message, payload, render_error) holds the renders of candidate rows
-- (unless message_sql, a simple template's SQL expression, renders them here).
create or replace temp table final as
with rendered_checks as (
    {%- if message_sql %}
    -- a simple template (cohortflow.template_sql): rendered here, in the same pass, for the
    -- rows without reasons; such a render cannot fail
    select
        checked.* exclude (reasons),
        case when len(checked.reasons) = 0 then {{ message_sql }} end as message,
        null::varchar as payload,
        checked.reasons
    from checked
    {%- else %}
    select
        checked.* exclude (reasons),
        rendered.message,
        rendered.payload,
        case when rendered.render_error is not null
             then list_append(checked.reasons, 'render_error: ' || rendered.render_error)
             else checked.reasons end as reasons
    from checked
    left join rendered using (row_number)
    {%- endif %}
),
kept_here as (  -- per number, the first row of this chunk that passes (an aggregate:
                -- cheaper than a window)
    select e164, min(row_number) as kept_row
    from rendered_checks
    where len(reasons) = 0
    group by e164
),
kept as (  -- unless an earlier chunk kept the number already (seen: e164, kept_row)
    select kept_here.e164, coalesce(seen.kept_row, kept_here.kept_row) as kept_row
    from kept_here
    left join seen using (e164)
)
select
    rendered_checks.* exclude (reasons),
    case when len(reasons) = 0 and kept.kept_row < rendered_checks.row_number
         then list_append(reasons, 'duplicate_phone: same number as row ' || kept.kept_row
                                   || ', which is kept')
         else reasons end as reasons
from rendered_checks
left join kept using (e164)
