-- One row per seller who ever created a gig, locked by every CreateGig of that seller
-- before it counts the seller's gigs: concurrent creates of one seller queue on the row, so
-- the count and the insert that follows it cannot both pass the cap. (SQLite serializes
-- writers anyway; PostgreSQL needs the row lock.)
CREATE TABLE gig_creation_locks (
    seller_id TEXT PRIMARY KEY NOT NULL
);
