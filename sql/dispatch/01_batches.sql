-- One row per batch of every campaign, folded from the outbox and results ledgers.
-- accepted: recipients the provider took in; confirmed / provider_rejected: what it reported
-- about them where its page documents how (null: not reported, e.g. a Sarvam cohort still
-- processing); provider_status: its own word for the batch.
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
    accepted,
    confirmed,
    provider_rejected,
    provider_status,
    provider_reference,
    error,
    resolved_by,
    created_at,
    submitted_at,
    $recorded_at::timestamptz as recorded_at
from source_batches
order by campaign_id, cohort_id, attempt, batch_number
