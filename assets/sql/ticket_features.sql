SELECT ticket_id,
       user_pseudo_id,
       text,
       LENGTH(text) - LENGTH(REPLACE(text, ' ', '')) + 1 AS n_words,
       category AS label,
       created_at
FROM tickets_clean
