-- campaign: loans
-- description: Loan accounts whose EMI falls due in the three days after the night's date.
--
-- A nightly SQL cohort (see include/cohortflow/ingest/nightly.py): one DuckDB select, a Jinja template
-- with `ds` (the night's date in the campaign's timezone), `campaign` (its config), `project`
-- and `warehouse` (folders); the catalog is attached read-only as `catalog`. The columns are the
-- cohort's columns: the campaign's mapping, or the inferred one (phone_number, customer_id,
-- the campaign's variables).
with accounts as (
    select *
    from read_csv('{{ project }}/include/examples/nightly/loan_accounts.csv', all_varchar = true)
),

due_soon as (
    select *
    from accounts
    where cast(due_date as date) between date '{{ ds }}' + interval 1 day
                                     and date '{{ ds }}' + interval 3 day
      and country = {{ campaign.default_region | sql_string }}
)

select
    phone as phone_number,
    customer_id,
    customer_name,
    emi_amount as loan_amount,
    strftime(cast(due_date as date), '%d %b %Y') as due_date,
    'voice' as channel
from due_soon
order by customer_id
