-- recipients: the rows that passed every check, with their output fields; in no particular
-- order (the contract checks do not need one; the COPY to parquet sorts by row_number).
select
    row_number,
    e164 as phone_number,
    region
    {%- for field in fields %},
    value_{{ field.index }} as {{ field.name | ident }}
    {%- endfor %}
    {%- if has_message %},
    message
    {%- endif %}
    {%- if has_payload %},
    payload
    {%- endif %}
from final_all
where len(reasons) = 0
