-- Outbox rows of events that carry a secret (a mailed token, even sealed) are deleted as
-- soon as they are published instead of being kept for inspection; the relay also tells
-- consumers so in a record header, and their dead letters keep no copy of the payload.
ALTER TABLE outbox ADD COLUMN carries_secret BOOLEAN NOT NULL DEFAULT FALSE;
