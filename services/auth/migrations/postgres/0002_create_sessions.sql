-- Sessions (refresh-token families) and the refresh tokens issued in them.

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    user_agent     TEXT NOT NULL,
    client_address TEXT NOT NULL,
    create_time    BIGINT NOT NULL,
    last_use_time  BIGINT NOT NULL,
    -- Expiry of the newest refresh token of the session.
    expire_time    BIGINT NOT NULL,
    revoke_time    BIGINT,
    -- 'log_out', 'revoked_by_owner', 'refresh_token_reuse', 'password_changed',
    -- 'password_reset' or 'account_suspended'.
    revoke_reason  TEXT
);

CREATE INDEX sessions_account ON sessions (account_id, id);

-- Only the SHA-256 of a refresh token is kept. A token is spent when it is exchanged;
-- presenting a spent token again revokes its session.
CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions (id),
    issue_time  BIGINT NOT NULL,
    expire_time BIGINT NOT NULL,
    spend_time  BIGINT
);

CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
