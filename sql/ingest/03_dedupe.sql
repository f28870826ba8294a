-- final: adds duplicate_phone, judged among rows that pass every other check (render included):
-- the first occurrence of a number is kept, later ones name the kept row.
-- rendered(row_number, message, payload, render_error) holds the renders of candidate rows.
create or replace table final as
with rendered_checks as (
    select
        checked.* exclude (reasons),
        rendered.message,
        rendered.payload,
        case when rendered.render_error is not null
             then list_append(checked.reasons, 'render_error: ' || rendered.render_error)
             else checked.reasons end as reasons
    from checked
    left join rendered using (row_number)
),
kept as (
    select row_number, min(row_number) over (partition by e164) as kept_row
    from rendered_checks
    where len(reasons) = 0
)
select
    rendered_checks.* exclude (reasons),
    case when kept.kept_row < rendered_checks.row_number
         then list_append(reasons, 'duplicate_phone: same number as row ' || kept.kept_row
                                   || ', which is kept')
         else reasons end as reasons
from rendered_checks
left join kept using (row_number)
