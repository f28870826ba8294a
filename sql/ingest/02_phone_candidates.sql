-- phone candidates: the distinct phone cells of this chunk that were valid and may hold an
-- extension or a second number (ingest/phone_notes.py parses them again): those the phone
-- lookup found room for one in (no_extension false: see cohortflow/phones/spelling.py
-- NO_EXTENSION). In most cohorts there is none, and the join then reads no cell at all.
select distinct chunk_rows.{{ phone_column }}
from chunk_rows
join phone_lookup using (row_number)
where phone_lookup.e164 is not null
  and not phone_lookup.no_extension
