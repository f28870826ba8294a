-- rejected_rows: the rejected data rows of this chunk (chunk_rows), in file order: every
-- original column (positional names c1, c2, ...) and rejected_reason. ingest.py appends each
-- chunk's rows while the chunk is still at hand, so the raw rows are freed after the last
-- chunk, before any artefact is written (at 10M rows, one join of all raw rows at the end
-- read them back from disk). rejected.csv (06_rejected.sql) and the rejections table
-- (07_rejections.sql) both read it.
-- first: the chunk's first row_number (final_all's earlier chunks are skipped).
select chunk_rows.*, final.rejected_reason
from chunk_rows
join final_all as final using (row_number)
where final.row_number >= {{ first | int }} and final.rejected_reason is not null
order by row_number
