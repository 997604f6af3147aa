-- Incremental: each run merges the current customers and their order totals into the dimension.
MERGE INTO customer_dim AS d
USING (
    SELECT u.user_id, u.email, u.country, count(o.order_id) AS orders, coalesce(sum(o.amount), 0) AS lifetime_value
    FROM users AS u
    LEFT JOIN orders AS o ON o.user_id = u.user_id
    GROUP BY u.user_id, u.email, u.country
) AS s
ON d.user_id = s.user_id
WHEN MATCHED THEN UPDATE SET email = s.email, country = s.country, orders = s.orders,
    lifetime_value = s.lifetime_value, updated_at = current_timestamp
WHEN NOT MATCHED THEN INSERT (user_id, email, country, orders, lifetime_value, updated_at)
    VALUES (s.user_id, s.email, s.country, s.orders, s.lifetime_value, current_timestamp)
