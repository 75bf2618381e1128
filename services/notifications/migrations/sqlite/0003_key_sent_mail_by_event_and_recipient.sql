-- One event may mail several people (an order's buyer and seller), so a sent mail is keyed
-- by its event and its recipient. SQLite cannot change a primary key in place: the table is
-- copied.
CREATE TABLE sent_mail_by_recipient (
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (event_id, recipient)
);

INSERT INTO sent_mail_by_recipient (event_id, kind, recipient, sent_at)
SELECT event_id, kind, recipient, sent_at FROM sent_mail;

DROP TABLE sent_mail;

ALTER TABLE sent_mail_by_recipient RENAME TO sent_mail;

CREATE INDEX sent_mail_recipient_idx ON sent_mail (recipient, sent_at);
