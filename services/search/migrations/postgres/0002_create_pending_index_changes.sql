-- Gigs whose stored snapshot a consumer has committed but its index may not have yet: a row
-- is written in the consumer's transaction with the snapshot, and deleted once the index
-- commit that staged it succeeded, so a batch lost between the two (a crash, an index
-- failure) is staged again from gig_documents by the next flush. `version` is the newest
-- event version marked; a row marked again meanwhile survives the delete of an older one.
CREATE TABLE pending_index_changes (
    consumer TEXT NOT NULL,
    gig_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (consumer, gig_id)
);
