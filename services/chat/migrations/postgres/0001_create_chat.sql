-- Chat's copy of each gig, kept from the gig service's GigChanged events: whose it is and
-- whether a custom offer may be made of it now (active and approved), at the version of the
-- event it came from. An older snapshot never replaces a newer one.
CREATE TABLE gigs (
    id TEXT PRIMARY KEY NOT NULL,
    seller_id TEXT NOT NULL,
    title TEXT NOT NULL,
    offerable BOOLEAN NOT NULL,
    currency TEXT NOT NULL,
    version BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE INDEX gigs_seller_id ON gigs (seller_id);

-- A conversation between a buyer and a seller. `inquiry_key` is "<buyer>:<seller>" for
-- the two's one inquiry conversation (so a second StartConversation finds it) and NULL for
-- an order's; `order_id` is set for an order's conversation, one per order.
CREATE TABLE conversations (
    id TEXT PRIMARY KEY NOT NULL,
    buyer_id TEXT NOT NULL,
    seller_id TEXT NOT NULL,
    gig_id TEXT NULL,
    order_id TEXT NULL,
    inquiry_key TEXT NULL,
    last_message_id TEXT NULL,
    create_time BIGINT NOT NULL
);
CREATE UNIQUE INDEX conversations_inquiry_key ON conversations (inquiry_key);
CREATE UNIQUE INDEX conversations_order_id ON conversations (order_id);

-- Each participant's side of a conversation: listed by the latest activity (its latest
-- message, or its opening), with the participant's read position and unread count (the
-- other participant's messages after it).
CREATE TABLE participants (
    conversation_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    other_id TEXT NOT NULL,
    activity_time BIGINT NOT NULL,
    read_message_id TEXT NULL,
    unread_count BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX participants_user_activity ON participants (user_id, activity_time, conversation_id);

-- Messages. Ids are UUIDv7, so a conversation's messages page by id. `request_id` makes a
-- retried SendMessage return the first message; `attachments` is a JSON array; `warning`
-- is empty unless the message seemed to take contact or payment off the marketplace.
CREATE TABLE messages (
    id TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    text TEXT NOT NULL,
    attachments TEXT NOT NULL,
    offer_id TEXT NULL,
    warning TEXT NOT NULL,
    create_time BIGINT NOT NULL
);
CREATE UNIQUE INDEX messages_sender_request ON messages (sender_id, request_id);
CREATE INDEX messages_conversation_id ON messages (conversation_id, id);
-- The rate limit counts a sender's messages of the last minute.
CREATE INDEX messages_sender_time ON messages (sender_id, create_time);

-- Custom offers. Every change applies only to the version that was read; the expiry
-- timer looks for pending offers past their expire_time.
CREATE TABLE custom_offers (
    id TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL,
    seller_id TEXT NOT NULL,
    buyer_id TEXT NOT NULL,
    gig_id TEXT NOT NULL,
    description TEXT NOT NULL,
    price_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    delivery_days BIGINT NOT NULL,
    revisions BIGINT NOT NULL,
    expire_time BIGINT NOT NULL,
    state TEXT NOT NULL,
    order_id TEXT NULL,
    create_time BIGINT NOT NULL,
    close_time BIGINT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX custom_offers_pending ON custom_offers (state, expire_time);

-- Who blocks whom: the blocked user's messages to the blocker are refused.
CREATE TABLE blocks (
    blocker_id TEXT NOT NULL,
    blocked_id TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);
CREATE INDEX blocks_blocker_time ON blocks (blocker_id, create_time, blocked_id);

-- Participants' reports of conversations, for the admins; a reported conversation is
-- readable by admins.
CREATE TABLE conversation_reports (
    id TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL,
    reporter_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    create_time BIGINT NOT NULL
);
CREATE INDEX conversation_reports_conversation ON conversation_reports (conversation_id);
CREATE INDEX conversation_reports_time ON conversation_reports (create_time, id);

-- Per sender, how many messages were flagged for taking business off the marketplace.
CREATE TABLE flagged_senders (
    user_id TEXT PRIMARY KEY NOT NULL,
    flagged_messages BIGINT NOT NULL,
    email_addresses BIGINT NOT NULL,
    phone_numbers BIGINT NOT NULL,
    off_platform_payments BIGINT NOT NULL,
    last_flag_time BIGINT NOT NULL
);
CREATE INDEX flagged_senders_count ON flagged_senders (flagged_messages, user_id);

-- Users with a stream open on a replica, refreshed while it stays open ("online now").
-- `refresh_id` names the replica's refresh that wrote the row last: the rows of the
-- replica that its latest refresh did not write are users whose streams closed.
CREATE TABLE presence (
    user_id TEXT NOT NULL,
    replica_id TEXT NOT NULL,
    refresh_id TEXT NOT NULL,
    expire_time BIGINT NOT NULL,
    PRIMARY KEY (user_id, replica_id)
);

-- The first reply time of each conversation a buyer opened with a message: when the
-- buyer's first message came, and when the seller's first reply after it did (NULL until
-- then). A seller's response time is the median over the last 30 days.
CREATE TABLE response_samples (
    conversation_id TEXT PRIMARY KEY NOT NULL,
    seller_id TEXT NOT NULL,
    first_message_time BIGINT NOT NULL,
    reply_time BIGINT NULL
);
CREATE INDEX response_samples_seller ON response_samples (seller_id, first_message_time);

-- Each seller's last published response time, so a change is published once.
CREATE TABLE seller_response_times (
    seller_id TEXT PRIMARY KEY NOT NULL,
    median_response_seconds BIGINT NOT NULL,
    conversations BIGINT NOT NULL,
    measure_time BIGINT NOT NULL
);
