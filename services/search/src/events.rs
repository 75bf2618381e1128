//! The gigs service's `GigChanged` snapshots (`gigmesh.gigs.v1`), the only input of search.
//!
//! A snapshot is stored in `gig_documents` with its version in the consumer's transaction
//! (with the inbox row), unless a newer one is stored already. Only after that transaction
//! commits does the index follow, and it follows the stored row, not the event
//! ([`sync::sync_gig`]): an older or duplicate snapshot leaves the index as the database
//! says, and a replica whose index lags behind a shared database catches up on the next
//! event of the gig.

use std::sync::Arc;

use async_trait::async_trait;
use gigmesh_db::{Db, Tx};
use gigmesh_events::{Envelope, EventHandler, HandlerError, decode};
use gigmesh_proto::gigs::GigChanged;
use gigmesh_types::now_millis;
use prost::Message as _;

use crate::index::SearchIndex;
use crate::snapshot::{self, SnapshotError};
use crate::store;
use crate::sync;

/// Stores `GigChanged` snapshots and, once committed, brings the index in line.
pub struct GigEventsHandler {
    db: Db,
    index: Arc<dyn SearchIndex>,
}

impl GigEventsHandler {
    /// A handler writing to `db` and then to `index`.
    pub fn new(db: Db, index: Arc<dyn SearchIndex>) -> Self {
        Self { db, index }
    }
}

#[async_trait]
impl EventHandler for GigEventsHandler {
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError> {
        let Some(event) = decode::<GigChanged>(envelope) else {
            return Ok(());
        };
        let event = event?;
        let gig = event
            .gig
            .as_ref()
            .ok_or_else(|| HandlerError::permanent(SnapshotError::MissingGig))?;
        let gig_id = snapshot::gig_id_of(gig).map_err(HandlerError::permanent)?;
        // A visible snapshot that cannot become a document is refused before it is stored.
        snapshot::document_from_snapshot(gig).map_err(HandlerError::permanent)?;
        let stored = store::save_snapshot(
            tx,
            gig_id,
            event.version,
            snapshot::is_visible(gig),
            &gig.encode_to_vec(),
            now_millis(),
        )
        .await?;
        if !stored {
            tracing::debug!(gig_id = %gig_id, version = event.version, "older gig snapshot ignored");
        }
        Ok(())
    }

    async fn after_commit(&self, envelope: &Envelope) {
        let Some(Ok(event)) = decode::<GigChanged>(envelope) else {
            return;
        };
        let Some(Ok(gig_id)) = event.gig.as_ref().map(snapshot::gig_id_of) else {
            return;
        };
        if let Err(error) = sync::sync_gig(&self.db, self.index.as_ref(), gig_id).await {
            // The database has the change; the index catches up with the gig's next event
            // or with a rebuild.
            tracing::error!(gig_id = %gig_id, error = %error, "cannot update the search index");
        }
    }
}
