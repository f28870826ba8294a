-- regions_present: for each region that shares its calling code and is told apart by leading
-- digits (NANP's Caribbean regions in +1, the Isle of Man in +44, ...), whether any value of
-- phone_parsed may belong to it: its leading digits match the start of the value's national
-- number nn, the start of what is left once the national prefix of the value's metadata key
-- is stripped, or the start of the number its transform rule makes (02_judge.sql judges one
-- of these). One boolean column per region key.
-- Only the regions found get their rules defined: most cohorts have none of them, and each
-- region's rules cost about as much to define and plan as the library takes for a hundred
-- values. A value of a region left out is decided by the library (02_judge.sql: library_key).
-- The starts are tested by one regular expression over 'nn,rest,transformed' (leading-digit
-- patterns hold only digits and digit classes, never a comma: phones/rules.py checks). A CASE, not a
-- FILTER: DuckDB computes an aggregate's input on every row before it filters.
-- A leading-digit pattern matches at most prefix_digits digits, so only that many digits of
-- each start can decide it: the expressions run once per distinct (cc, starts), not per value.
-- Needs the _ph_np_* macros of the keys the values use (the codes' main keys, the default).
{%- macro start(digits) %}{% if prefix_digits %}left({{ digits }}, {{ prefix_digits }}){% else %}{{ digits }}{% endif %}{% endmacro %}
with candidates as (
    select distinct
        cc,
        {{ start("nn") }}
        || case when np_len > 0 then ',' || {{ start("substr(nn, np_len + 1)") }} else '' end
        || coalesce(',' || {{ start("transformed") }}, '') as starts
    from (
        select
            cc, nn,
            case key
                {%- for key in keys %}
                when {{ key | literal }} then _ph_np_{{ key }}(nn)
                {%- endfor %}
            end as np_len,
            case key{% if not transform_keys %} when null then null{% endif %}
                {%- for key in transform_keys %}
                when {{ key | literal }} then _ph_tf_{{ key }}(nn)
                {%- endfor %}
            end as transformed
        from (
            select
                cc, nn,
                coalesce(meta, case cc
                    {%- for code in codes %}
                    when {{ code.cc }} then {{ code.main_key | literal }}
                    {%- endfor %}
                end) as key
            from phone_parsed
            where cc in ({{ codes | map(attribute="cc") | join(", ") }})
              and error is null and not undecided and strlen(nn) >= 2
        )
    )
)
select
    {%- for option in options %}
    coalesce(bool_or(case when cc = {{ option.cc }}
        then regexp_matches(starts, {{ ("(?:^|,)(?:" ~ option.leading_digits ~ ")") | literal }}) end), false)
        as {{ option.key | ident }}{{ "," if not loop.last }}
    {%- endfor %}
from candidates
