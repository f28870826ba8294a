-- rejected_rows: the rejected data rows of one chunk, in file order: every original column
-- (positional names c1, c2, ...), row_number and rejected_reason. final_chunk holds one row
-- per data row of the chunk, in file order, as chunk_raw does (see 04_recipients.sql): the
-- n-th row of final_chunk is chunk_raw's rowid n - 1. Only the rejected rows' cells are
-- looked up, by rowid (a hash join of the few rejected rows, scanned in parallel), rather
-- than pairing every row of the chunk (a positional join, on one thread).
-- rejected.csv (06_rejected.sql) and the rejections table (07_rejections.sql) both read it.
with rejected as (
    select
        row_number - (select min(row_number) from final_chunk) as chunk_rowid,
        row_number,
        rejected_reason
    from final_chunk
    where rejected_reason is not null
)
select {% for column in columns %}chunk_raw.{{ column.source }}, {% endfor %}rejected.row_number,
       rejected.rejected_reason
from chunk_raw
join rejected on chunk_raw.rowid = rejected.chunk_rowid
order by rejected.row_number
