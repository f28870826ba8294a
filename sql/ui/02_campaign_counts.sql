-- campaign_counts: per campaign, its recipients by where they stand in dispatch.
-- Each recipient counts once, by its latest batch (attempt, then batch number): `sent`
-- (submitted, no retry due), `unconfirmed` (the provider may have it; an operator resolves
-- it), `waiting` (no batch yet, a pending batch, a released one whose recipients are planned
-- again, or a retry scheduled), `cancelled`, or `failed` (refused, or never sent in its
-- rounds). sent + unconfirmed + waiting + failed + cancelled = recipients.
-- Without the dispatch tables every recipient is waiting.
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
            else 'failed'
        end as state
    from recipients
    left join latest_deliveries using (campaign_id, cohort_id, row_number)
)
select
    campaign_id,
    count(*) as recipients,
    count(*) filter (where state = 'sent') as sent,
    count(*) filter (where state = 'unconfirmed') as unconfirmed,
    count(*) filter (where state = 'waiting') as waiting,
    count(*) filter (where state = 'failed') as failed,
    count(*) filter (where state = 'cancelled') as cancelled
from recipient_states
group by campaign_id
order by campaign_id
