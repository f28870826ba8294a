-- Replace one cohort's catalog rows (idempotent: re-registering changes nothing).
delete from recipients where cohort_id = $cohort_id;
delete from rejections where cohort_id = $cohort_id;
delete from cohorts where cohort_id = $cohort_id;
insert into cohorts
select
    $cohort_id, $campaign_id, $name, $status, $source_type, $source, $sha256,
    $total_records, $valid_records, $rejected_records, $rejected_reasons::json, $error,
    $error_code, $mapping::json, $mapping_inferred, $created_at::timestamptz,
    $updated_at::timestamptz, $artefacts;
