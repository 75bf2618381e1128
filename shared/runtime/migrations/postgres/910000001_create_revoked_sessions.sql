-- Sessions auth announced as ended (gigmesh.auth.v1.SessionsRevoked), migrated into every
-- service that serves signed-in calls (versions 910000000+). A row is forgotten once the
-- last access token of its session has expired.
CREATE TABLE revoked_sessions (
    session_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expire_time BIGINT NOT NULL
);

CREATE INDEX revoked_sessions_by_expiry ON revoked_sessions (expire_time);
