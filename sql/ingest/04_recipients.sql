-- recipients: the rows that passed every check, with their output fields, in file order
-- (final_all holds each chunk's rows sorted, chunk after chunk; a filtered scan keeps that
-- order, so no global sort, which would spill at 10M rows). A simple template's message is
-- rendered here (message_sql, cohortflow.render.sql_templates: SQL concatenation of the fields).
-- final_all keeps the number as an integer (phone_key): E.164 is '+' and its digits.
with final as (
    select * exclude (phone_key), '+' || phone_key as phone_number
    from final_all
    where rejected_reason is null
)
select
    row_number,
    phone_number,
    region
    {%- for field in fields %},
    value_{{ field.index }} as {{ field.name | ident }}
    {%- endfor %}
    {%- if has_message %},
    {{ message_sql or "message" }} as message
    {%- endif %}
    {%- if has_payload %},
    payload
    {%- endif %}
from final
