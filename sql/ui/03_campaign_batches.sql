-- campaign_batches: per campaign, how many batches dispatch planned and how many are pending.
select
    campaign_id,
    count(*) as batches,
    count(*) filter (where status = 'pending') as pending_batches
from batches
group by campaign_id
order by campaign_id
