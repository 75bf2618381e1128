-- Retention deletes the webhook events remembered for deduplication once they are a month
-- old, by their receive time.
CREATE INDEX webhook_events_receive_time ON webhook_events (receive_time);
