-- phone_fast: the numbers with a national significant number of 2 to 17 digits, judged in one
-- pass (each CASE dispatches on the calling code or the metadata key, so a value runs only its
-- own region's patterns): the region (region_code_for_number: the first region of the code
-- whose leading digits match, or else whose number types match), validity there
-- (_number_type_helper), E.164, and for invalid numbers the detail of phones._invalid_detail
-- (is_possible_number_with_reason in the code's main region).
create or replace temp table phone_fast as
with regioned as (
    select
        raw, cc, nsn,
        case cc
            {%- for code in codes %}
            when {{ code.cc }} then
                {%- if code.options | length == 1 %}
                {{ code.options[0].key | literal }}
                {%- else %}
                case
                    {%- for option in code.options %}
                    when {% if option.leading_digits %}regexp_matches(nsn, {{ ("^(?:" ~ option.leading_digits ~ ")") | literal }}){% else %}_ph_valid_{{ option.key }}(nsn){% endif %} then {{ option.key | literal }}
                    {%- endfor %}
                end
                {%- endif %}
            {%- endfor %}
        end as number_key
    from phone_national
    where length(nsn) between 2 and 17
),
judged as (
    select
        raw, cc, nsn, number_key,
        case number_key
            {%- for code in codes %}{% for option in code.options %}
            when {{ option.key | literal }} then _ph_valid_{{ option.key }}(nsn)
            {%- endfor %}{% endfor %}
            else false
        end as valid
    from regioned
),
detailed as (
    -- only invalid numbers need the possibility (is_possible_number_with_reason)
    select
        *,
        case when not valid then
            case cc
                {%- for code in codes %}
                when {{ code.cc }} then _ph_len_{{ code.main_key }}(nsn)
                {%- endfor %}
            end
        end as possibility
    from judged
)
select
    raw,
    case when valid then '+' || cc || nsn end as e164,
    -- the key is the region, or n<code> for a non-geographic code (region 001)
    case when not valid then null
         when starts_with(number_key, 'n') then {{ non_geo | literal }}
         else number_key end as region,
    case when valid then null
         else replace(case possibility
             {%- for state, detail in details.items() %}
             when {{ state | literal }} then {{ detail | literal }}
             {%- endfor %}
             end, '{region}', case cc
                 {%- for code in codes %}
                 when {{ code.cc }} then {{ code.main_region | literal }}
                 {%- endfor %}
             end)
    end as error,
    not valid and possibility is null as undecided
from detailed
