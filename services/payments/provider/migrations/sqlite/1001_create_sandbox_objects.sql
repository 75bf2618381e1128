-- The sandbox provider's objects, kept as a payment provider would keep them.
CREATE TABLE sandbox_payments (
    id TEXT PRIMARY KEY,
    client_secret TEXT NOT NULL,
    order_id TEXT NOT NULL,
    description TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    last_error TEXT,
    charge_id TEXT,
    amount_refunded_minor BIGINT NOT NULL DEFAULT 0,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);

CREATE TABLE sandbox_refunds (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES sandbox_payments (id),
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    create_time BIGINT NOT NULL
);

CREATE TABLE sandbox_accounts (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL,
    email TEXT,
    country TEXT NOT NULL,
    transfers_enabled INTEGER NOT NULL,
    create_time BIGINT NOT NULL
);

CREATE TABLE sandbox_transfers (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES sandbox_accounts (id),
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    amount_reversed_minor BIGINT NOT NULL DEFAULT 0,
    transfer_group TEXT NOT NULL,
    source_transaction TEXT,
    create_time BIGINT NOT NULL
);

-- What each idempotency key made, per kind of request.
CREATE TABLE sandbox_idempotency_keys (
    scope TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    object_id TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
);

-- Webhook events waiting for (or done with) delivery, in the order they happened.
CREATE TABLE sandbox_webhook_events (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_time BIGINT NOT NULL,
    last_error TEXT
);

CREATE INDEX sandbox_webhook_events_due ON sandbox_webhook_events (delivered, next_attempt_time);
