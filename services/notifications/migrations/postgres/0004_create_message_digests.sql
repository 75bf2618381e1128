-- Unread messages waiting for their mail, one row per conversation and recipient while the
-- recipient has messages there they have not read: kept from chat's MessageSent and
-- ConversationRead. The mail is due `message_digest_delay_seconds` after the oldest unread
-- message (`first_unread_time`); once it went out (`mailed_time`), further messages of the
-- same unread streak send nothing more, until the recipient reads and a new streak starts.
CREATE TABLE message_digests (
    conversation_id TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    first_unread_time BIGINT NOT NULL,
    last_message_time BIGINT NOT NULL,
    last_text TEXT NOT NULL,
    due_time BIGINT NOT NULL,
    mailed_time BIGINT NULL,
    PRIMARY KEY (conversation_id, recipient_id)
);
CREATE INDEX message_digests_due ON message_digests (due_time);
