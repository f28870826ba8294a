-- recipients: the rows that passed every check, in file order, with their output fields.
select
    row_number,
    e164 as phone_number,
    region
    {%- for field in fields %},
    value_{{ loop.index }} as {{ field.name | ident }}
    {%- endfor %}
    {%- if has_message %},
    message
    {%- endif %}
    {%- if has_payload %},
    payload
    {%- endif %}
from final
where len(reasons) = 0
order by row_number
