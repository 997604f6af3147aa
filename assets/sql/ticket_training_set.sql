SELECT ticket_id,
       user_pseudo_id,
       text,
       label
FROM ticket_features
