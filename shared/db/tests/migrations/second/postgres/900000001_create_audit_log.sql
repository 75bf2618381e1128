CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    message TEXT NOT NULL
);
