-- phone_fast(row_number, e164, region, error, undecided, no_extension): the library's answer for
-- every row of phone_parsed, in one pass with no join. Each CASE dispatches on the calling code
-- or the metadata key (most frequent first), so a value runs only its own region's patterns.
--   national: _maybe_strip_national_prefix_carrier_code with the metadata of the value's key
--             (strip the prefix, or transform the number when the prefix's rule applies),
--             then parse's rule that the stripped number must not be too short, local-only or
--             of an invalid length (nsn NULL: the library decides, a transform rule the SQL
--             cannot mirror applies);
--   judged:   for a national significant number of 2 to 17 digits, the region
--             (region_code_for_number: the first region of the code whose leading digits
--             match, or else whose number types match), validity there (_number_type_helper),
--             E.164 (a valid number of more than e164_max_digits digits is rejected, as in
--             phones.normalize_distinct), and for invalid numbers the detail of
--             phones._invalid_detail (is_possible_number_with_reason in the code's main region);
--             A region told apart by leading digits whose rules were not defined (no value
--             seemed to need them, 01_regions_present.sql) gives the key library_key: the
--             library decides those values (undecided);
--   the rest: parse errors found on the way (too short, too long, bad country code after an
--             international prefix) and the values the library must decide (undecided).
-- Needs the _ph_* macros of every key in defined (00_rules.sql).
-- nn, nsn and potential hold ASCII digits only: their length is strlen() (bytes, known without
-- reading the text), not length() (characters, counted).
-- With no code present, each CASE keeps one branch that never matches (valid SQL, all NULL).
{%- macro never(items) %}{% if not items %}
            when null then null{% endif %}{% endmacro %}
create or replace temp table phone_fast as
with keyed as (
    select
        row_number, error, cc, nn, undecided,
        coalesce(meta, case cc{{ never(codes) }}
            {%- for code in codes %}
            when {{ code.cc }} then {{ code.main_key | literal }}
            {%- endfor %}
        end) as meta,
        error is null and not undecided and strlen(nn) >= 2 as eligible
    from phone_parsed
),
candidates as (
    select
        *,
        case when eligible then
            case meta{{ never(keys) }}
                {%- for key in keys %}
                when {{ key | literal }} then _ph_np_{{ key }}(nn)
                {%- endfor %}
            end
        end as np_len,
        -- only the keys with a transform rule (the others' is NULL)
        case when eligible then
            case meta{{ never(transform_keys) }}
                {%- for key in transform_keys %}
                when {{ key | literal }} then _ph_tf_{{ key }}(nn)
                {%- endfor %}
            end
        end as transformed
    from keyed
),
stripped as (
    select
        *,
        case when not eligible or np_len is null or np_len < 0 then null
             when transformed is not null then
                 case when case meta{{ never(transform_keys) }}
                               {%- for key in transform_keys %}
                               when {{ key | literal }} then _ph_gen_{{ key }}(nn)
                                   and not _ph_gen_{{ key }}(transformed)
                               {%- endfor %}
                           end then nn
                      else transformed end
             when np_len = 0 then nn
             when case meta{{ never(keys) }}
                      {%- for key in keys %}
                      when {{ key | literal }} then _ph_gen_{{ key }}(nn)
                          and not _ph_gen_{{ key }}(substr(nn, np_len + 1))
                      {%- endfor %}
                  end then nn
             else substr(nn, np_len + 1) end as potential
    from candidates
),
measured as (
    select
        *,
        case when potential is not null then
            case meta{{ never(keys) }}
                {%- for key in keys %}
                when {{ key | literal }} then _ph_len_{{ key }}(potential)
                {%- endfor %}
            end
        end as potential_length
    from stripped
),
national as (
    select
        row_number, error, cc, nn, undecided,
        case when potential is null or potential_length is null then null
             when potential_length in ({{ length.short | literal }}, {{ length.local | literal }}, {{ length.invalid | literal }}) then nn
             else potential end as nsn
    from measured
),
regioned as (
    select
        *,
        coalesce(strlen(nsn) between 2 and 17, false) as judgeable,
        case when strlen(nsn) between 2 and 17 then
            case cc{{ never(codes) }}
                {%- for code in codes %}
                when {{ code.cc }} then
                    {%- if code.options | length == 1 %}
                    {{ code.options[0].key | literal }}
                    {%- else %}
                    case
                        {%- for option in code.options %}
                        when {% if option.leading_digits %}regexp_matches(nsn, {{ ("^(?:" ~ option.leading_digits ~ ")") | literal }}){% else %}_ph_valid_{{ option.key }}(nsn){% endif %} then {{ (option.key if option.key in defined else library_key) | literal }}
                        {%- endfor %}
                    end
                    {%- endif %}
                {%- endfor %}
            end
        end as number_key
    from national
),
judged as (
    -- a region that regioned chose by its validity (one of a code's several, without leading
    -- digits) is valid there: only the others are tested
    select
        *,
        coalesce(case number_key{{ never(codes) }}
            {%- for code in codes %}{% for option in code.options if option.key in defined %}
            {%- if code.options | length > 1 and not option.leading_digits %}
            when {{ option.key | literal }} then true
            {%- else %}
            when {{ option.key | literal }} then _ph_valid_{{ option.key }}(nsn)
            {%- endif %}
            {%- endfor %}{% endfor %}
        end, false) as valid
    from regioned
),
detailed as (
    -- only invalid numbers need the possibility (is_possible_number_with_reason)
    select
        *,
        case when judgeable and not valid then
            case cc{{ never(codes) }}
                {%- for code in codes %}
                when {{ code.cc }} then _ph_len_{{ code.main_key }}(nsn)
                {%- endfor %}
            end
        end as possibility,
        valid and strlen(cc::varchar) + strlen(nsn) > {{ e164_max_digits }} as too_long
    from judged
)
select
    row_number,
    case when valid and not too_long then concat('+', cc, nsn) end as e164,
    -- the key is the region, or n<code> for a non-geographic code (region 001)
    case when not valid or too_long then null
         when starts_with(number_key, 'n') then {{ non_geo | literal }}
         else number_key end as region,
    case when too_long then {{ e164_too_long | literal }}
         when valid or number_key = {{ library_key | literal }} then null
         when judgeable then replace(case possibility
             {%- for state, detail in details.items() %}
             when {{ state | literal }} then {{ detail | literal }}
             {%- endfor %}
             end, '{region}', case cc{{ never(codes) }}
                 {%- for code in codes %}
                 when {{ code.cc }} then {{ code.main_region | literal }}
                 {%- endfor %}
             end)
         when undecided then null
         when error is not null then error
         when nn is null then null
         when strlen(nn) < 2 then {{ errors.too_short | literal }}
         when strlen(nsn) > 17 then {{ errors.too_long | literal }}
    end as error,
    case when number_key = {{ library_key | literal }} then true
         when judgeable then not valid and possibility is null
         else undecided
              or (error is null and nn is null)
              or (error is null and strlen(nn) >= 2 and (nsn is null or strlen(nsn) < 2))
    end as undecided,
    -- a value decided here has the shape of cohortflow/phones/spelling.py SHAPE (or no digit
    -- at all): no digit after its last separator, so no room for an extension or a second
    -- number; the undecided ones are replaced by the library's answers (sql_path.py)
    true as no_extension
from detailed
