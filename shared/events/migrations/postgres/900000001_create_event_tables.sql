-- Tables of shared/events, migrated into every service database (versions 900000000+).

-- Transactional outbox: written in the same transaction as the state change, published
-- by the relay in id order, then marked sent.
CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    record_key TEXT NOT NULL,
    event_type TEXT NOT NULL,
    envelope BYTEA NOT NULL,
    create_time BIGINT NOT NULL,
    send_time BIGINT
);

CREATE INDEX outbox_unsent ON outbox (id) WHERE send_time IS NULL;
CREATE INDEX outbox_unsent_by_key ON outbox (topic, record_key, id) WHERE send_time IS NULL;
CREATE INDEX outbox_sent ON outbox (send_time) WHERE send_time IS NOT NULL;

-- Inbox: one row per event a consumer has applied, inserted in the same transaction as
-- the effect, so a redelivered event is recognised and skipped.
CREATE TABLE inbox (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    process_time BIGINT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Events a consumer gave up on after its retries; kept for inspection and replay.
CREATE TABLE dead_letters (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    topic TEXT NOT NULL,
    record_key TEXT NOT NULL,
    record_partition BIGINT NOT NULL,
    record_offset BIGINT NOT NULL,
    payload BYTEA NOT NULL,
    error TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    create_time BIGINT NOT NULL
);

CREATE INDEX dead_letters_by_consumer ON dead_letters (consumer, id);
