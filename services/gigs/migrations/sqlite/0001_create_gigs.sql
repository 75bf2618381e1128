-- Gigs, one row per gig. The lists a gig page shows whole (tags, packages, extras, gallery,
-- requirements, FAQ) are one JSON document in a TEXT column: they are always read and
-- written with their gig and never queried by their parts (search keeps its own read model
-- from GigChanged), so the SQL stays identical on both backends. States are lower-case
-- names. `version` increases with every change and is the version of the GigChanged event.
CREATE TABLE gigs (
    id TEXT PRIMARY KEY NOT NULL,
    seller_id TEXT NOT NULL,
    slug TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    category_id TEXT NULL,
    subcategory_id TEXT NULL,
    content TEXT NOT NULL,
    state TEXT NOT NULL,
    moderation_state TEXT NOT NULL,
    moderation_reason TEXT NULL,
    rating REAL NOT NULL,
    rating_count BIGINT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    published_at BIGINT NULL
);

CREATE UNIQUE INDEX gigs_slug_key ON gigs (slug);
-- A seller's gigs, newest first (ids are UUIDv7, so they sort by creation).
CREATE INDEX gigs_seller_id ON gigs (seller_id, id);

-- What gig pages show of each seller, kept from the users service's ProfileChanged and the
-- reviews service's RatingsChanged events. Languages are a JSON array of ISO 639-1 codes.
-- The gigs of a suspended seller are hidden from buyers.
-- Booleans are INTEGER 0/1 here (the Any driver cannot read a SQLite BOOLEAN column).
CREATE TABLE sellers (
    user_id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    display_name TEXT NOT NULL,
    avatar_url TEXT NOT NULL,
    country TEXT NOT NULL,
    languages TEXT NOT NULL,
    rating REAL NOT NULL,
    rating_count BIGINT NOT NULL,
    suspended INTEGER NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Saved (favourite) gigs per user, most recently saved first.
CREATE TABLE saved_gigs (
    user_id TEXT NOT NULL,
    gig_id TEXT NOT NULL,
    saved_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, gig_id)
);

CREATE INDEX saved_gigs_user_saved_at ON saved_gigs (user_id, saved_at, gig_id);
