-- recipients: the rows that passed every check, with their output fields, in file order.
-- final_all holds one row per data row, in file order (each chunk's rows sorted, chunk after
-- chunk), as raw_table does: a POSITIONAL JOIN pairs them row by row without a hash table or
-- a sort, and gives each field its value: the file's cell (c<n>) or, when formatted or fixed,
-- the value stored in final_all. A simple template's message is rendered here (message_sql,
-- cohortflow.render.sql_templates: SQL concatenation of the fields).
-- final_all keeps the number as an integer (phone_key): E.164 is '+' and its digits.
with final as (
    select
        row_number,
        '+' || phone_key as phone_number,
        region,
        phone_extension
        {%- for field in fields %},
        {{ field.output_sql }} as value_{{ field.index }}
        {%- endfor %}
        {%- if has_message and not message_sql %},
        message
        {%- endif %}
        {%- if has_payload %},
        payload
        {%- endif %}
    from raw_table positional join final_all
    where rejected_reason is null
)
select
    row_number,
    phone_number,
    region
    {%- if has_extension %},
    phone_extension
    {%- endif %}
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
