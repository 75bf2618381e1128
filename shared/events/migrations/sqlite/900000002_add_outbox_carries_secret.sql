-- Outbox rows of events that carry a secret (a mailed token, even sealed) are deleted as
-- soon as they are published instead of being kept for inspection; the relay also tells
-- consumers so in a record header, and their dead letters keep no copy of the payload.
-- 0 or 1 (the sqlx Any driver cannot read SQLite BOOLEAN columns).
ALTER TABLE outbox ADD COLUMN carries_secret INTEGER NOT NULL DEFAULT 0;
