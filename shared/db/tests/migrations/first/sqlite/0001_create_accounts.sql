CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    verified INTEGER NOT NULL,
    balance_minor BIGINT NOT NULL
);
