-- The address and names of every user notifications may mail, kept from auth's events
-- (address, username) and users' ProfileChanged (display name), so order and payment mails
-- never call another service. Each half changes only when its event is newer than the one
-- it was last set from (email_time, profile_time: the events' occur times, unix millis).
CREATE TABLE recipients (
    user_id TEXT PRIMARY KEY NOT NULL,
    email TEXT,
    username TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    email_time BIGINT NOT NULL DEFAULT 0,
    profile_time BIGINT NOT NULL DEFAULT 0,
    update_time BIGINT NOT NULL
);
