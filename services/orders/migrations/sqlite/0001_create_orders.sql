-- Orders, one row per order. What an order was bought as (`terms`: line items, price,
-- requirement questions) and where it is (`progress`: times, answers, pending requests,
-- payment ids) are JSON documents in TEXT columns: they are always read and written with
-- their order, and the columns lists and timers query are kept beside them. `version`
-- increases with every change (one per timeline entry) and is the version of the
-- OrderChanged event; every write applies only to the version that was read.
-- Booleans are INTEGER 0/1 here (the Any driver cannot read a SQLite BOOLEAN column).
-- `next_timer_at` is when the order's earliest timer falls due in its state (NULL when none
-- runs); the timer loop looks for rows due at its clock's now.
CREATE TABLE orders (
    id TEXT PRIMARY KEY NOT NULL,
    buyer_id TEXT NOT NULL,
    seller_id TEXT NOT NULL,
    gig_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    state TEXT NOT NULL,
    due_time BIGINT NULL,
    disputed INTEGER NOT NULL,
    next_timer_at BIGINT NULL,
    terms TEXT NOT NULL,
    progress TEXT NOT NULL,
    version BIGINT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);

-- A retried PlaceOrder finds the order its first attempt placed; two racing attempts
-- cannot both insert.
CREATE UNIQUE INDEX orders_buyer_id_request_id_key ON orders (buyer_id, request_id);
-- A user's orders as buyer and as seller, newest first.
CREATE INDEX orders_buyer_created ON orders (buyer_id, create_time, id);
CREATE INDEX orders_seller_created ON orders (seller_id, create_time, id);
-- Orders whose timers are due.
CREATE INDEX orders_next_timer_at ON orders (next_timer_at);

-- Everything that happened to an order, one row per entry, sequence from 1. The entry is a
-- JSON document (kind, actor, time, message, attachments, days, states, resolution, refund).
CREATE TABLE order_timeline (
    order_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    kind TEXT NOT NULL,
    entry TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    PRIMARY KEY (order_id, sequence)
);

-- Orders' copy of each gig, kept from the gig service's GigChanged events: the snapshot
-- (title, state, moderation, packages, extras, requirement questions) as JSON, at the
-- version of the event it came from. An older snapshot never replaces a newer one.
CREATE TABLE gigs (
    id TEXT PRIMARY KEY NOT NULL,
    seller_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    snapshot TEXT NOT NULL,
    update_time BIGINT NOT NULL
);
