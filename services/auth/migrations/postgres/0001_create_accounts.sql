-- Accounts, their roles, and the single-use tokens mailed to their owners.

CREATE TABLE accounts (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL,
    username          TEXT NOT NULL,
    -- Lower-cased username: usernames are unique regardless of case.
    username_key      TEXT NOT NULL,
    -- Argon2id PHC string.
    password_hash     TEXT NOT NULL,
    email_verified    BOOLEAN NOT NULL DEFAULT FALSE,
    -- 'active' or 'suspended'.
    state             TEXT NOT NULL,
    suspension_reason TEXT,
    create_time       BIGINT NOT NULL,
    update_time       BIGINT NOT NULL
);

CREATE UNIQUE INDEX accounts_email_unique ON accounts (email);
CREATE UNIQUE INDEX accounts_username_key_unique ON accounts (username_key);

CREATE TABLE account_roles (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    -- 'buyer', 'seller' or 'admin'.
    role       TEXT NOT NULL,
    grant_time BIGINT NOT NULL,
    PRIMARY KEY (account_id, role)
);

-- Email-verification and password-reset tokens. Only the SHA-256 of a token is kept.
CREATE TABLE mailed_tokens (
    token_hash   TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    -- 'verify_email' or 'reset_password'.
    purpose      TEXT NOT NULL,
    create_time  BIGINT NOT NULL,
    expire_time  BIGINT NOT NULL,
    -- Set when the token was used or superseded; a spent token is never accepted again.
    spend_time   BIGINT
);

CREATE INDEX mailed_tokens_account ON mailed_tokens (account_id, purpose);
