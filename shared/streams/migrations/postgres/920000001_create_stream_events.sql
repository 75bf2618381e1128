-- Every user's stream of events, numbered from 1 per user: written in the transaction of
-- the change, read by the user's open streams after the last number they sent. `event` is
-- the service's encoded stream event without its event id. `stream_heads` holds each
-- user's last number (its row lock orders one user's writers on PostgreSQL).
CREATE TABLE stream_heads (
    user_id TEXT PRIMARY KEY NOT NULL,
    last_seq BIGINT NOT NULL
);
CREATE TABLE stream_events (
    user_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    event BYTEA NOT NULL,
    create_time BIGINT NOT NULL,
    PRIMARY KEY (user_id, seq)
);
CREATE INDEX stream_events_create_time ON stream_events (create_time);
