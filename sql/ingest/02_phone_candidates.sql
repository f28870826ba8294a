-- phone candidates: the distinct phone cells of this chunk that were valid and may hold an
-- extension or a second number (ingest/phone_notes.py parses them again). phonenumbers drops
-- whatever comes before the first digit or plus (a 'tel:' or 'Mobile:' in front; a ';' there
-- could start an RFC 3966 phone-context, so it stays a candidate); after that, a cell of digits
-- (of any script), spaces and the separators + ( ) [ ] . - / (ASCII or full-width) has no
-- room for an extension: every marker of one (x, ext, #, ;, ',', ~ ...) is outside that set.
-- A value the phone parser found plain (digits, ASCII separators, a leading '+') is such a
-- cell: only the others are looked at.
select distinct chunk_rows.{{ phone_column }}
from chunk_rows
join phone_lookup using (row_number)
where phone_lookup.e164 is not null
  and not phone_lookup.plain
  and not regexp_full_match(
      chunk_rows.{{ phone_column }},
      '[^\p{Nd}+＋;]*[\p{Nd}\s\p{Z}+＋()（）\[\]［］.．\-‐‑‒–—―−－/／]*')
