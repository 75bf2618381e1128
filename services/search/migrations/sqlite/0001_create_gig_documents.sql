-- The search read model: the last applied GigChanged snapshot of every gig (visible or
-- not), with its version, so older snapshots are ignored and the index can be rebuilt from
-- here. The snapshot is the encoded gigmesh.gigs.v1.Gig; `visible` says whether it is
-- indexed (active and approved). Booleans are INTEGER 0/1 (the Any driver cannot read a
-- SQLite BOOLEAN column).
CREATE TABLE gig_documents (
    gig_id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    visible INTEGER NOT NULL,
    snapshot BLOB NOT NULL,
    update_time BIGINT NOT NULL
);
