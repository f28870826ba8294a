-- cohorts: every cohort in the catalog for the Cohorts page, newest first.
select
    cohort_id,
    campaign_id,
    name,
    status,
    source,
    coalesce(total_records, 0) as total_records,
    coalesce(valid_records, 0) as valid_records,
    coalesce(rejected_records, 0) as rejected_records,
    cast(rejected_reasons as varchar) as rejected_reasons,
    error_code,
    error,
    created_at,
    updated_at
from cohorts
order by created_at desc nulls last, campaign_id, name
