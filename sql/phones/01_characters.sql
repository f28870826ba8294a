-- characters: the distinct non-ASCII characters of the phones of phone_values (of the values
-- 01_parse.sql may decide: at most 100 characters). 01_parse.sql translates only these: the
-- cost of translate() grows with the length of its table, and a cohort holds a few scripts
-- of the hundreds the library reads.
select distinct character
from (
    select unnest(string_split(raw, '')) as character
    from phone_values
    where strlen(raw) <> length(raw) and length(raw) <= 100
)
where strlen(character) > 1
