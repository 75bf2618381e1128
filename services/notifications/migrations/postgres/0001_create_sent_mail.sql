-- One row per mail sent, keyed by the event that asked for it. It is written in the same
-- transaction as the consumer's inbox row, so it records what the service believes it sent.
CREATE TABLE sent_mail (
    event_id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    sent_at BIGINT NOT NULL
);

CREATE INDEX sent_mail_recipient_idx ON sent_mail (recipient, sent_at);
