-- phone_national: the national significant number of every parsed value, in one pass, each
-- value stripped with the metadata of its key (meta): _maybe_strip_national_prefix_carrier_code,
-- then parse's rule that the stripped number must not be too short, local-only or of an
-- invalid length. nsn is NULL where the library must decide (a transform rule applies).
-- Each CASE dispatches on meta, so a value runs only its own region's patterns.
create or replace temp table phone_national as
with candidates as (
    select
        raw, cc, nn, meta,
        case meta
            {%- for key in keys %}
            when {{ key | literal }} then _ph_np_{{ key }}(nn)
            {%- endfor %}
        end as np_len
    from phone_keyed
    where meta is not null and error is null and not undecided and length(nn) >= 2
),
stripped as (
    select
        raw, cc, nn, meta,
        case when np_len < 0 then null
             when np_len = 0 then nn
             when case meta
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
        raw, cc, nn, potential,
        case meta
            {%- for key in keys %}
            when {{ key | literal }} then _ph_len_{{ key }}(potential)
            {%- endfor %}
        end as potential_length
    from stripped
)
select
    raw, cc, nn,
    case when potential is null or potential_length is null then null
         when potential_length in ('short', 'local', 'invalid') then nn
         else potential end as nsn
from measured
