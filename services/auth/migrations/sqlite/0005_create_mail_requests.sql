-- When an account was last sent a mail of each purpose on request (password reset, resent
-- email verification), so that requests within the mail cooldown send nothing. One row per
-- account and purpose, claimed by one conditional upsert, so concurrent requests send at
-- most one mail.

CREATE TABLE mail_requests (
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    -- 'verify_email' or 'reset_password'.
    purpose        TEXT NOT NULL,
    last_mail_time BIGINT NOT NULL,
    PRIMARY KEY (account_id, purpose)
);
