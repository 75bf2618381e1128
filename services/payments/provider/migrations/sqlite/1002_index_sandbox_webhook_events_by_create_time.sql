-- Retention deletes delivered sandbox webhook events once they are a month old, as Stripe
-- keeps its events for thirty days.
CREATE INDEX sandbox_webhook_events_create_time ON sandbox_webhook_events (create_time);
