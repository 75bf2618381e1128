CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    verified BOOLEAN NOT NULL,
    balance_minor BIGINT NOT NULL
);
