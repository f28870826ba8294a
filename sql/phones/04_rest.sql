-- phone_fast += every distinct value not judged by 03_judge.sql: parse errors found on the way
-- (too short, too long, bad country code after an international prefix) and the values the
-- library must decide (undecided = true).
insert into phone_fast
select
    keyed.raw,
    null as e164,
    null as region,
    case when keyed.undecided then null
         when keyed.error is not null then keyed.error
         when keyed.nn is null then null
         when length(keyed.nn) < 2 then {{ errors.too_short | literal }}
         when length(national.nsn) > 17 then {{ errors.too_long | literal }}
    end as error,
    keyed.undecided
        or (keyed.error is null and keyed.nn is null)
        or (keyed.error is null and length(keyed.nn) >= 2
            and (national.nsn is null or length(national.nsn) < 2))
        as undecided
from phone_keyed as keyed
left join phone_national as national using (raw)
where keyed.undecided
   or keyed.error is not null
   or keyed.nn is null
   or length(keyed.nn) < 2
   or national.nsn is null
   or length(national.nsn) not between 2 and 17
