-- rejected_rows: the rejected data rows, in file order: every original column (positional
-- names c1, c2, ...), row_number and rejected_reason, paired with final_all row by row (see
-- 04_recipients.sql). rejected.csv (06_rejected.sql) and the rejections table
-- (07_rejections.sql) both read it.
select {% for column in columns %}{{ column.source }}, {% endfor %}row_number, rejected_reason
from raw_table positional join final_all
where rejected_reason is not null
