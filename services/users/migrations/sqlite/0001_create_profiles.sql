-- Profiles, one row per account. Languages and the seller details are JSON documents in
-- TEXT columns: they are always read and written whole with their profile and never queried
-- by their parts (search keeps its own read model from ProfileChanged), so one row per
-- profile keeps every read to a single lookup and the SQL identical on both backends.
-- Booleans are INTEGER 0/1 here (the Any driver cannot read a SQLite BOOLEAN column).
CREATE TABLE profiles (
    user_id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL,
    display_name TEXT NOT NULL,
    bio TEXT NOT NULL,
    country TEXT NULL,
    languages TEXT NOT NULL,
    avatar_url TEXT NULL,
    seller_details TEXT NULL,
    seller_since BIGINT NULL,
    suspended INTEGER NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Usernames are unique ignoring case (as auth keeps them); lookups use the lower-cased key.
CREATE UNIQUE INDEX profiles_username_key ON profiles (username_key);
