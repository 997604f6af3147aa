SELECT DATE_TRUNC('month', o.ordered_at) AS month, u.country, o.currency,
       COUNT(*) AS orders, SUM(o.amount) AS revenue
FROM orders AS o
JOIN users AS u ON o.user_id = u.user_id
GROUP BY DATE_TRUNC('month', o.ordered_at), u.country, o.currency
