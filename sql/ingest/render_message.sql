-- rendered: the message of every row that passed every check so far, rendered in SQL from a
-- simple template (literal text and bare variables; NULL renders as '', as in Jinja here).
-- `message` is an expression built by cohortflow.template_sql from quoted literals and column
-- names, never from cell values. Such a render cannot fail, so render_error is NULL.
create or replace table rendered as
select
    row_number,
    {{ message }} as message,
    null::varchar as payload,
    null::varchar as render_error
from checked
where len(reasons) = 0
