-- rejected_rows: the rejected data rows of one chunk, in file order: every original column
-- (positional names c1, c2, ...), row_number and rejected_reason, paired with final_chunk row
-- by row (see 04_recipients.sql). rejected.csv (06_rejected.sql) and the rejections table
-- (07_rejections.sql) both read it.
select {% for column in columns %}{{ column.source }}, {% endfor %}row_number, rejected_reason
from chunk_raw positional join final_chunk
where rejected_reason is not null
