-- The search read model: the last applied GigChanged snapshot of every gig (visible or
-- not), with its version, so older snapshots are ignored and the index can be rebuilt from
-- here. The snapshot is the encoded gigmesh.gigs.v1.Gig; `visible` says whether it is
-- indexed (active and approved).
CREATE TABLE gig_documents (
    gig_id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    visible BOOLEAN NOT NULL,
    snapshot BYTEA NOT NULL,
    update_time BIGINT NOT NULL
);
