-- unconfirmed_batches: the batches an operator must resolve (the provider may have them and
-- cohortflow never sends them again by itself), oldest first.
select
    campaign_id,
    idempotency_key as batch_id,
    recipients,
    error,
    created_at
from batches
where status in ('unconfirmed', 'interrupted')
order by created_at, campaign_id, idempotency_key
