-- rejected_rows: the rejected data rows once, in file order: every original column of
-- raw_rows (positional names c1, c2, ...) and rejected_reason. rejected.csv (06_rejected.sql)
-- and the rejections table (07_rejections.sql) both read it, so the raw rows are joined once
-- and can be freed before the largest artefact is written.
select raw_rows.*, final.rejected_reason
from raw_rows
join final_all as final using (row_number)
where final.rejected_reason is not null
order by row_number
