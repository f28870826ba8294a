-- phone_fast += the numbers of calling code {{ code.cc }} with a national significant number of
-- 2 to 17 digits: the region (region_code_for_number: the first region whose leading digits
-- match, or else whose number types match), validity there (_number_type_helper), E.164, and
-- for invalid numbers the detail of phones._invalid_detail (is_possible_number_with_reason in
-- the main region {{ code.main_region }}).
insert into phone_fast
with regioned as (
    select
        raw, cc, nsn,
        {%- if code.options | length == 1 %}
        {{ code.options[0].region | literal }} as number_region
        {%- else %}
        case
            {%- for option in code.options %}
            when {% if option.leading_digits %}regexp_matches(nsn, {{ ("^(?:" ~ option.leading_digits ~ ")") | literal }}){% else %}_ph_valid_{{ option.key }}(nsn){% endif %} then {{ option.region | literal }}
            {%- endfor %}
        end as number_region
        {%- endif %}
    from phone_national
    where cc = {{ code.cc }} and length(nsn) between 2 and 17
),
judged as (
    select
        *,
        case number_region
            {%- for option in code.options %}
            when {{ option.region | literal }} then _ph_valid_{{ option.key }}(nsn)
            {%- endfor %}
            else false
        end as valid,
        _ph_len_{{ code.main_key }}(nsn) as possibility
    from regioned
)
select
    raw,
    case when valid then '+' || cc || nsn end as e164,
    case when valid then number_region end as region,
    case when valid then null
         else replace(case possibility
             {%- for state, detail in details.items() %}
             when {{ state | literal }} then {{ detail | literal }}
             {%- endfor %}
             end, '{region}', {{ code.main_region | literal }})
    end as error,
    not valid and possibility is null as undecided
from judged
