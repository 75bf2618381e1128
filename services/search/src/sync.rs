//! The index follows the `gig_documents` table, never an event directly: the gigs marked
//! pending after their snapshot is committed (batched by [`IndexCommits`](crate::commits)),
//! or every visible gig in a rebuild. The index is derived state, so either can run again
//! at any time and ends where the table says.

use anyhow::Context as _;
use gigmesh_db::Db;
use gigmesh_types::GigId;
use uuid::Uuid;

use crate::domain::GigDocument;
use crate::error::SearchError;
use crate::index::SearchIndex;
use crate::snapshot;
use crate::store::{self, PendingChange};

/// Stages the stored snapshot of a pending gig in the index (or its removal when the gig
/// is not visible or not stored), without committing.
pub async fn stage_change(
    index: &dyn SearchIndex,
    change: &PendingChange,
) -> Result<(), SearchError> {
    let gig_id = Uuid::parse_str(&change.gig_id)
        .map(GigId::from)
        .with_context(|| format!("pending gig id {:?}", change.gig_id))?;
    let document = match &change.snapshot {
        Some(snapshot) => stored_document(gig_id, snapshot)?,
        None => None,
    };
    match document {
        Some(document) => index.upsert(document).await?,
        None => index.remove(gig_id.as_uuid()).await?,
    }
    Ok(())
}

/// Replaces the index content with the stored snapshots of visible gigs, read in batches
/// in gig id order and committed once at the end; returns how many gigs it indexed.
pub async fn rebuild_index(db: &Db, index: &dyn SearchIndex) -> Result<u64, SearchError> {
    index.clear().await?;
    let mut indexed = 0_u64;
    let mut after = String::new();
    loop {
        let batch = store::visible_snapshots_after(db.pool(), &after).await?;
        let Some((last_gig_id, _)) = batch.last() else {
            break;
        };
        after = last_gig_id.clone();
        for (raw_gig_id, snapshot) in &batch {
            let gig_id = Uuid::parse_str(raw_gig_id)
                .map(GigId::from)
                .with_context(|| format!("stored gig id {raw_gig_id:?}"))?;
            if let Some(document) = stored_document(gig_id, snapshot)? {
                index.upsert(document).await?;
                indexed += 1;
            }
        }
    }
    index.commit().await?;
    Ok(indexed)
}

/// The document of the snapshot stored for `gig_id`, `None` when the gig is not visible.
fn stored_document(gig_id: GigId, snapshot: &[u8]) -> Result<Option<GigDocument>, SearchError> {
    snapshot::document_from_stored(snapshot)
        .map_err(|reason| SearchError::StoredSnapshot { gig_id, reason })
}
