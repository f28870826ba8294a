-- A cohort's rejected rows from its parquet file.
insert into rejections
select $cohort_id, $campaign_id, row_number, rejected_reason, reason_code, record::json
from read_parquet($path)
