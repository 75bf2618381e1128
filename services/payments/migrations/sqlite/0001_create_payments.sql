-- Orders as payments knows them (from orders' OrderChanged), with what is due.
CREATE TABLE orders (
    order_id TEXT PRIMARY KEY,
    buyer_id TEXT NOT NULL,
    seller_id TEXT NOT NULL,
    gig_title TEXT NOT NULL,
    package_name TEXT NOT NULL,
    currency TEXT NOT NULL,
    subtotal_minor BIGINT NOT NULL,
    service_fee_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    line_items TEXT NOT NULL,
    state TEXT NOT NULL,
    version BIGINT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE INDEX orders_buyer ON orders (buyer_id);
CREATE INDEX orders_seller ON orders (seller_id);

-- One provider payment per order.
CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL UNIQUE REFERENCES orders (order_id),
    buyer_id TEXT NOT NULL,
    seller_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_payment_id TEXT NOT NULL UNIQUE,
    client_secret TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    last_error TEXT,
    charge_id TEXT,
    refunded_minor BIGINT NOT NULL DEFAULT 0,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    paid_time BIGINT
);
CREATE INDEX payments_buyer ON payments (buyer_id, create_time);
CREATE INDEX payments_seller ON payments (seller_id, create_time);

-- Refunds, made through the provider after the ledger moved (status pending -> succeeded).
CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    payment_id TEXT NOT NULL REFERENCES payments (id),
    buyer_id TEXT NOT NULL,
    seller_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    provider_refund_id TEXT,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_time BIGINT NOT NULL,
    create_time BIGINT NOT NULL
);
CREATE INDEX refunds_due ON refunds (status, next_attempt_time);
CREATE INDEX refunds_order ON refunds (order_id);

-- Provider payments to cancel (orders closed before payment).
CREATE TABLE cancellations (
    order_id TEXT PRIMARY KEY,
    provider_payment_id TEXT NOT NULL,
    done INTEGER NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_time BIGINT NOT NULL
);

-- Provider webhook events already applied.
CREATE TABLE webhook_events (
    event_id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    receive_time BIGINT NOT NULL
);

-- Settlements already applied, one per order change that carried one.
CREATE TABLE settlements (
    settlement_key TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    change_kind TEXT NOT NULL,
    apply_time BIGINT NOT NULL
);

-- The ledger's journal: transactions and their legs, never changed except for the
-- state of pending ones (pending -> settled | voided).
CREATE TABLE ledger_transactions (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    currency TEXT NOT NULL,
    state TEXT NOT NULL,
    pending_id TEXT,
    order_id TEXT,
    seller_id TEXT,
    withdrawal_id TEXT,
    create_time BIGINT NOT NULL
);
CREATE INDEX ledger_transactions_seller ON ledger_transactions (seller_id);

CREATE TABLE ledger_entries (
    transaction_id TEXT NOT NULL REFERENCES ledger_transactions (id),
    leg BIGINT NOT NULL,
    account TEXT NOT NULL,
    account_kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    PRIMARY KEY (transaction_id, leg)
);
CREATE INDEX ledger_entries_account ON ledger_entries (account, currency);

-- Sellers' earnings waiting for the clearance period.
CREATE TABLE clearances (
    order_id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    clear_time BIGINT NOT NULL,
    cleared INTEGER NOT NULL
);
CREATE INDEX clearances_due ON clearances (cleared, clear_time);

-- Every change of a seller's balance, for their history.
CREATE TABLE earnings (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    order_id TEXT NOT NULL,
    withdrawal_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    time BIGINT NOT NULL,
    clear_time BIGINT
);
CREATE INDEX earnings_seller ON earnings (seller_id, time, id);

CREATE TABLE payout_accounts (
    seller_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    transfers_enabled INTEGER NOT NULL,
    create_time BIGINT NOT NULL
);

CREATE TABLE withdrawals (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    status TEXT NOT NULL,
    transfer_id TEXT,
    failure_message TEXT,
    pending_transaction_id TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    UNIQUE (seller_id, request_id)
);
CREATE INDEX withdrawals_seller ON withdrawals (seller_id, create_time, id);

-- Names and emails for invoices (from auth's and users' events).
CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    update_time BIGINT NOT NULL
);

-- The last invoice number of each year: numbers are gap-free per year.
CREATE TABLE invoice_counters (
    year BIGINT PRIMARY KEY,
    last_number BIGINT NOT NULL
);

CREATE TABLE invoices (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL UNIQUE REFERENCES orders (order_id),
    number TEXT NOT NULL UNIQUE,
    issue_time BIGINT NOT NULL,
    buyer_id TEXT NOT NULL,
    buyer_name TEXT NOT NULL,
    buyer_email TEXT NOT NULL,
    seller_id TEXT NOT NULL,
    seller_name TEXT NOT NULL,
    seller_email TEXT NOT NULL,
    lines TEXT NOT NULL,
    currency TEXT NOT NULL,
    subtotal_minor BIGINT NOT NULL,
    service_fee_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL
);

-- Who did what to the money.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    actor_user_id TEXT NOT NULL,
    action TEXT NOT NULL,
    order_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    reason TEXT NOT NULL,
    time BIGINT NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (time, id);
