-- recipients of one chunk: the rows that passed every check, with their output fields, in file
-- order. final_chunk holds one row per data row of the chunk, in file order, as chunk_raw
-- does: a POSITIONAL JOIN pairs them row by row without a hash table or a sort, and gives each
-- field its value: the file's cell (c<n>) or, when formatted or fixed, the value stored in
-- final_chunk. A simple template's message is rendered here (message_sql,
-- cohortflow.render.sql_templates: SQL concatenation of the fields).
-- final_chunk keeps the number as an integer (phone_key): E.164 is '+' and its digits.
-- phone_extension is not here: ingest/outputs.py adds the column when a recipient has one.
with final as (
    select
        row_number,
        '+' || phone_key as phone_number,
        region
        {%- for field in fields %},
        {{ field.output_sql }} as value_{{ field.index }}
        {%- endfor %}
        {%- if has_message and not message_sql %},
        message
        {%- endif %}
        {%- if has_payload %},
        payload
        {%- endif %}
    from chunk_raw positional join final_chunk
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
