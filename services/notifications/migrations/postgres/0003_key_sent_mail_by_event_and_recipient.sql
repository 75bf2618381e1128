-- One event may mail several people (an order's buyer and seller), so a sent mail is keyed
-- by its event and its recipient.
ALTER TABLE sent_mail DROP CONSTRAINT sent_mail_pkey;

ALTER TABLE sent_mail ADD PRIMARY KEY (event_id, recipient);
