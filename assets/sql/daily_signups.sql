SELECT CAST(created_at AS DATE) AS signup_date, country, COUNT(*) AS signups
FROM users
GROUP BY CAST(created_at AS DATE), country
