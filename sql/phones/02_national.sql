-- phone_national += the national significant number of the parsed values whose national
-- prefix is stripped with the metadata {{ key }}: _maybe_strip_national_prefix_carrier_code,
-- then parse's rule that the stripped number must not be too short, local-only or of an
-- invalid length. nsn is NULL where the library must decide (a transform rule applies).
insert into phone_national
with candidates as (
    select raw, cc, nn, _ph_np_{{ key }}(nn) as np_len
    from phone_keyed
    where meta = {{ key | literal }} and error is null and not undecided and length(nn) >= 2
),
stripped as (
    select
        *,
        case when np_len < 0 then null
             when np_len = 0 then nn
             when _ph_gen_{{ key }}(nn) and not _ph_gen_{{ key }}(substr(nn, np_len + 1)) then nn
             else substr(nn, np_len + 1) end as potential
    from candidates
),
measured as (
    select *, _ph_len_{{ key }}(potential) as potential_length
    from stripped
)
select
    raw, cc, nn,
    case when potential is null or potential_length is null then null
         when potential_length in ('short', 'local', 'invalid') then nn
         else potential end as nsn
from measured
