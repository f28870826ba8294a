-- A cohort's recipients from its parquet file; variables and overrides folded into JSON.
insert into recipients
select
    $cohort_id,
    $campaign_id,
    row_number,
    phone_number,
    region,
    {{ "user_identifier" if has_identifier else "null" }},
    json_object(
        {%- for name in variables %}
        {{ name | literal }}, {{ name | ident }}{{ "," if not loop.last }}
        {%- endfor %}
    ),
    {{ "message" if has_message else "null" }},
    {{ "payload::json" if has_payload else "null" }}
from read_parquet($path)
