-- One row per batch of every campaign, folded from the outbox and results ledgers.
create or replace table batches as
with source_batches as (
    select * from batches_source
)
select
    campaign_id,
    cohort_id,
    batch_number,
    attempt,
    idempotency_key,
    recipients,
    status,
    outcome,
    provider_reference,
    error,
    resolved_by,
    created_at,
    submitted_at,
    $recorded_at::timestamptz as recorded_at
from source_batches
order by campaign_id, cohort_id, attempt, batch_number
