-- Revenue and orders per month, country and currency: aggregates only.
select
    date_trunc('month', ordered_at) as month,
    country,
    currency,
    sum(amount) as revenue,
    count(*) as orders
from {{ ref('order_facts') }}
group by 1, 2, 3
