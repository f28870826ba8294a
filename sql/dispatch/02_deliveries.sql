-- One row per recipient attempt: its batch, the provider's answer and the call outcome.
-- status 'provider_rejected': the provider refused this recipient by name (provider_reason).
create or replace table deliveries as
with source_deliveries as (
    select * from deliveries_source
)
select
    campaign_id,
    cohort_id,
    row_number,
    phone_number,
    idempotency_key as batch_key,
    batch_number,
    attempt,
    status,
    provider_status_code,
    provider_response::json as provider_response,
    provider_reason,
    outcome,
    duration_seconds,
    outcome_at,
    next_retry_at,
    retry_reason,
    $recorded_at::timestamptz as recorded_at
from source_deliveries
order by campaign_id, cohort_id, row_number, attempt
