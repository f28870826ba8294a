-- campaign_counts: per campaign, its recipients by where they stand in dispatch.
-- Each recipient counts once, by its latest batch (attempt, then batch number): `sent`
-- (submitted, no retry due), `unconfirmed` (the provider may have it; an operator resolves
-- it), `waiting` (no batch yet, a pending batch, a released one whose recipients are planned
-- again, or a retry scheduled), `cancelled`, or `failed` (refused, or never sent in its
-- rounds), or `rejected` (the provider refused that recipient by name).
-- sent + unconfirmed + waiting + failed + cancelled + rejected = recipients.
-- From the batches: what the providers reported about the recipients they took in:
-- `confirmed`, `provider_rejected` (by count; includes `rejected`), and `unreported`
-- (submitted, no report: still processing, or a provider whose page has no way to report).
-- Without the dispatch tables every recipient is waiting (has_deliveries, has_batches: which
-- of them the catalog holds).
{%- if has_deliveries %}
with latest_deliveries as (
    select campaign_id, cohort_id, row_number, status, next_retry_at
    from deliveries
    qualify row_number() over (
        partition by campaign_id, cohort_id, row_number
        order by attempt desc, batch_number desc
    ) = 1
),
{%- else %}
with latest_deliveries as (
    select
        null::varchar as campaign_id,
        null::varchar as cohort_id,
        null::bigint as row_number,
        null::varchar as status,
        null::timestamptz as next_retry_at
    where false
),
{%- endif %}
recipient_states as (
    select
        recipients.campaign_id,
        case
            when latest_deliveries.status is null then 'waiting'
            when latest_deliveries.next_retry_at is not null then 'waiting'
            when latest_deliveries.status in ('pending', 'released') then 'waiting'
            when latest_deliveries.status = 'submitted' then 'sent'
            when latest_deliveries.status in ('unconfirmed', 'interrupted') then 'unconfirmed'
            when latest_deliveries.status = 'cancelled' then 'cancelled'
            when latest_deliveries.status = 'provider_rejected' then 'rejected'
            else 'failed'
        end as state
    from recipients
    left join latest_deliveries using (campaign_id, cohort_id, row_number)
),
{%- if has_batches %}
provider_reports as (
    select
        campaign_id,
        coalesce(sum(confirmed), 0) as confirmed,
        coalesce(sum(provider_rejected), 0) as provider_rejected,
        coalesce(sum(accepted) filter (where confirmed is null), 0) as unreported
    from batches
    where status = 'submitted'
    group by campaign_id
),
{%- else %}
provider_reports as (
    select
        null::varchar as campaign_id,
        0::hugeint as confirmed,
        0::hugeint as provider_rejected,
        0::hugeint as unreported
    where false
),
{%- endif %}
counts as (
    select
        campaign_id,
        count(*) as recipients,
        count(*) filter (where state = 'sent') as sent,
        count(*) filter (where state = 'unconfirmed') as unconfirmed,
        count(*) filter (where state = 'waiting') as waiting,
        count(*) filter (where state = 'failed') as failed,
        count(*) filter (where state = 'cancelled') as cancelled,
        count(*) filter (where state = 'rejected') as rejected
    from recipient_states
    group by campaign_id
)
select
    counts.*,
    coalesce(provider_reports.confirmed, 0)::bigint as confirmed,
    coalesce(provider_reports.provider_rejected, 0)::bigint as provider_rejected,
    coalesce(provider_reports.unreported, 0)::bigint as unreported
from counts
left join provider_reports using (campaign_id)
order by campaign_id
