-- phone_parsed: what phonenumbers.parse(raw, default_region) makes of the phone of each row of
-- phone_values(row_number, raw), for the values of the shape cohortflow/phones/spelling.py
-- describes (text before the number such as 'tel:', '+' signs, digits of any script the
-- library reads, separators, a tail of punctuation), where parse uses only two facts: a
-- leading '+' and the digits; and for the values without a digit or '+' (empty, or not a
-- number). Every row, not each distinct spelling: nearly every spelling of a cohort is its
-- own, and the results join the rows on row_number, an integer, instead of on the text (at
-- 1M rows, the DISTINCT and the join on the text cost more CPU than parsing the few repeats
-- again).
-- Columns: row_number, error (a parse error), cc, nn (the national number before
-- national-prefix stripping), meta (the key of the metadata the parser strips with; NULL: the
-- main region of cc), undecided (true: the library must decide; so is every value of another
-- shape).
-- Needs the _ph_* macros of the default region (00_rules.sql).
-- d, full_number and nn hold ASCII digits only (RE2's [0-9] is ASCII): their length is strlen()
-- (bytes, known without reading the text), not length() (characters, counted).
create or replace temp table phone_parsed as
with shaped as (
    select
        row_number,
        -- ASCII text (as many bytes as characters) needs no translation; what is still not
        -- ASCII after it fails both shapes below
        case when length(raw) > 100 then NULL
             when strlen(raw) = length(raw) then raw
             else translate(raw, {{ translation[0] | literal }}, {{ translation[1] | literal }})
        end as t
    from phone_values
),
-- Most values are digits, separators and at most one '+' before the digits: removing the
-- separators one by one, each only from the values that hold it (replace() copies every
-- value it is given, contains() only looks), leaves '+' and the digits. That is cheaper
-- than the shape's regular expression and a regexp_replace, which only the other values
-- need.
{%- set separators = [" ", "-", ".", "/", "(", ")", "[", "]"] %}
{%- for separator in separators %}
{%- set before = "t" if loop.first else "without_" ~ loop.index0 %}
without_{{ loop.index }} as (
    select
        row_number, t,
        case when contains({{ before }}, {{ separator | literal }})
             then replace({{ before }}, {{ separator | literal }}, '')
             else {{ before }} end as without_{{ loop.index }}
    from {{ "shaped" if loop.first else "without_" ~ loop.index0 }}
),
{%- endfor %}
{%- set remainder = "without_" ~ (separators | length) %}
checked as (
    select
        row_number, t, {{ remainder }} as remainder,
        coalesce(regexp_full_match({{ remainder }}, '\+?[0-9]+'), false) as plain
    from {{ remainder }}
),
shape_checked as (
    select
        *,
        case when plain then true
             else coalesce(regexp_full_match(t, {{ shape | literal }}), false) end as simple_shape
    from checked
),
blanks as (
    select
        *,
        -- no digit and no '+': empty or not a number (a CASE looks at the other values only)
        case when simple_shape or t is null then false
             else strlen(t) = length(t) and not regexp_matches(t, '[0-9+]') end as blank
    from shape_checked
),
simple as (
    -- every value goes on (no filter, so no join back): one of another shape gets no digits
    -- and is undecided at the end
    select
        row_number,
        -- a plain remainder has at most one '+', in front (ltrim with a set of characters
        -- builds that set again for every value)
        case when plain and starts_with(remainder, '+') then substr(remainder, 2)
             when plain then remainder
             when simple_shape then regexp_replace(t, '[^0-9]+', '', 'g')
             else '' end as d,
        simple_shape and contains(t, '+') as plus,
        case when blank and regexp_full_match(t, {{ blank | literal }}) then {{ errors.empty | literal }}
             when blank then {{ errors.not_a_number | literal }} end as blank_error
    from blanks
),
idd_matched as (
    select
        row_number, d, plus, blank_error,
        {%- if idd %}
        case when plus then 0
             else strlen(regexp_extract(d, {{ ("^(?:" ~ idd ~ ")") | literal }})) end as idd_len,
        {%- if idd_may_be_empty %}
        not plus and regexp_matches(d, {{ ("^(?:" ~ idd ~ ")") | literal }}) as idd_match,
        {%- else %}
        not plus and idd_len > 0 as idd_match,
        {%- endif %}
        -- after '+' and no known code, parse retries without the '+': with the international
        -- prefix there, another code may be found (the library decides such values)
        plus and regexp_matches(d, {{ ("^(?:" ~ idd ~ ")") | literal }}) as retry_idd
        {%- else %}
        0 as idd_len,
        false as idd_match,
        false as retry_idd
        {%- endif %}
    from simple
),
prefixed as (
    select
        row_number, d, plus, retry_idd, blank_error,
        idd_match and substr(d, idd_len + 1, 1) <> '0' as idd,
        case when idd_match and substr(d, idd_len + 1, 1) <> '0' then substr(d, idd_len + 1)
             else d end as full_number
    from idd_matched
),
international as (
    select
        *,
        -- _extract_country_code: the first of 1, 2, 3 leading digits that is a known code (a
        -- regular expression of all codes, shortest first; none starts with 0)
        case when plus or idd
             then strlen(regexp_extract(full_number, {{ ("^(?:" ~ country_codes ~ ")") | literal }}))
             else 0 end as cc_len,
        -- the default branch: does the number start with the default region's code?
        case when not (plus or idd) and starts_with(d, {{ default_code | literal }})
             then substr(d, {{ default_code | length + 1 }}) end as after_code
    from prefixed
),
after_code_np as (
    select
        *,
        case when after_code is not null then _ph_np_{{ default_key }}(after_code) end as np_len,
        {%- if default_transform %}
        case when after_code is not null then _ph_tf_{{ default_key }}(after_code) end as transformed
        {%- else %}
        NULL::varchar as transformed
        {%- endif %}
    from international
),
after_code_stripped as (
    -- _maybe_strip_national_prefix_carrier_code: the transformed number when the rule's last
    -- group matched, else the number without the prefix; the number stays as it was when it
    -- matched the general pattern and the result does not
    select
        *,
        case when after_code is null or np_len < 0 then null
             when transformed is not null then
                 case when _ph_gen_{{ default_key }}(after_code)
                           and not _ph_gen_{{ default_key }}(transformed) then after_code
                      else transformed end
             when np_len = 0 then after_code
             when _ph_gen_{{ default_key }}(after_code)
                  and not _ph_gen_{{ default_key }}(substr(after_code, np_len + 1)) then after_code
             else substr(after_code, np_len + 1) end as potential
    from after_code_np
),
default_branch as (
    select
        *,
        case when after_code is not null then
            (not _ph_gen_{{ default_key }}(d) and _ph_gen_{{ default_key }}(potential))
            or _ph_len_{{ default_key }}(d) = {{ length.long | literal }}
        else false end as code_in_number
    from after_code_stripped
),
parsed as (
    select
        row_number,
        case when blank_error is not null then blank_error
             when (plus or idd) and strlen(full_number) <= 2 then {{ errors.too_short_after_idd | literal }}
             when idd and cc_len = 0 then {{ errors.invalid_country_code | literal }}
             -- '+' and an unknown code: the retry without '+' finds no code either when the
             -- digits start with neither the international prefix nor the default code
             when plus and cc_len = 0 and not retry_idd
                  and not starts_with(d, {{ default_code | literal }})
                  then {{ errors.invalid_country_code | literal }}
        end as error,
        case when blank_error is not null then null
             when not (plus or idd) then {{ default_code }}
             when cc_len > 0 then left(full_number, cc_len)::integer end as cc,
        case when plus or idd then substr(full_number, cc_len + 1)
             when code_in_number then potential
             else d end as nn,
        case when plus or idd or code_in_number then null
             else {{ default_key | literal }} end as meta,
        blank_error is null and length(d) < 3  -- another shape, or too few digits
        or coalesce((plus and strlen(full_number) > 2 and cc_len = 0
                  and (retry_idd or starts_with(d, {{ default_code | literal }})))
            or (after_code is not null and (np_len < 0 or code_in_number is null)), true)
            as undecided
    from default_branch
)
select row_number, error, cc, nn, meta, undecided
from parsed
-- Clustered by calling code: 02_judge.sql dispatches each value to its own region's rules
-- with long CASE chains, which DuckDB evaluates per vector of 2,048 rows. Values of one code
-- side by side make each vector take one or two branches instead of dozens.
order by cc
