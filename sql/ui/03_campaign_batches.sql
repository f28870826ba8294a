-- campaign_batches: per campaign, how many batches dispatch planned, how many are pending and
-- how many are unconfirmed.
select
    campaign_id,
    count(*) as batches,
    count(*) filter (where status = 'pending') as pending_batches,
    count(*) filter (where status = 'unconfirmed') as unconfirmed_batches
from batches
group by campaign_id
order by campaign_id
