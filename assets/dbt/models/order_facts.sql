{{ config(materialized='incremental', unique_key='order_id') }}

-- One row per order with the customer's country; each run adds the orders placed since the last.
select
    o.order_id,
    o.user_id,
    u.country,
    o.amount,
    o.currency,
    o.ordered_at
from {{ source('deep_water', 'orders') }} as o
join {{ source('deep_water', 'users') }} as u on u.user_id = o.user_id
{% if is_incremental() %}
where o.ordered_at > (select coalesce(max(ordered_at), timestamp '1970-01-01') from {{ this }})
{% endif %}
