//! The gigs service's `GigChanged` snapshots (`gigmesh.gigs.v1`), the only input of search.
//!
//! A snapshot is stored in `gig_documents` with its version in the consumer's transaction
//! (with the inbox row), unless a newer one is stored already. Only after that transaction
//! commits does the index follow, and it follows the stored row, not the event: an older or
//! duplicate snapshot leaves the index as the database says, and a replica whose index
//! lags behind a shared database catches up on the next event of the gig.

use std::sync::Arc;

use async_trait::async_trait;
use gigmesh_db::{Db, DbError, Tx};
use gigmesh_events::{Envelope, EventHandler, HandlerError, decode};
use gigmesh_proto::gigs::{Gig, GigChanged};
use gigmesh_types::now_millis;
use prost::Message as _;
use uuid::Uuid;

use crate::domain::{self, GigDocument};
use crate::index::{IndexError, SearchIndex};
use crate::store;

/// Prefix of the consumer group (and inbox name) on the gigs topic; the replica id follows.
pub const CONSUMER_NAME_PREFIX: &str = "search.gigs-events.";

/// Why the index could not follow the database.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Reading the stored snapshot failed.
    #[error(transparent)]
    Store(#[from] DbError),
    /// The stored snapshot is unreadable.
    #[error("stored snapshot of gig {0}: {1}")]
    Snapshot(Uuid, String),
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
}

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
            .ok_or_else(|| HandlerError::permanent(domain::SnapshotError::MissingGig))?;
        let gig_id = domain::parse_gig_id(&gig.id).map_err(HandlerError::permanent)?;
        // A visible snapshot that cannot become a document is refused before it is stored.
        domain::document_from_snapshot(gig).map_err(HandlerError::permanent)?;
        let stored = store::save_snapshot(
            tx,
            gig_id,
            event.version,
            domain::is_visible(gig),
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
        let Some(Ok(gig_id)) = event.gig.as_ref().map(|gig| domain::parse_gig_id(&gig.id)) else {
            return;
        };
        if let Err(error) = sync_gig(&self.db, self.index.as_ref(), gig_id).await {
            // The database has the change; the index catches up with the gig's next event
            // or with a rebuild.
            tracing::error!(gig_id = %gig_id, error = %error, "cannot update the search index");
        }
    }
}

/// Puts the gig's stored snapshot into the index (or removes it) and commits the index.
pub async fn sync_gig(db: &Db, index: &dyn SearchIndex, gig_id: Uuid) -> Result<(), SyncError> {
    let stored = store::find_snapshot(db.pool(), gig_id).await?;
    match stored.map(|snapshot| document_from_stored(gig_id, &snapshot)) {
        Some(Ok(Some(document))) => index.upsert(document).await?,
        Some(Ok(None)) | None => index.remove(gig_id).await?,
        Some(Err(error)) => return Err(error),
    }
    index.commit().await?;
    Ok(())
}

/// The document of a stored snapshot, `None` when the gig is not visible.
pub fn document_from_stored(
    gig_id: Uuid,
    snapshot: &[u8],
) -> Result<Option<GigDocument>, SyncError> {
    let gig =
        Gig::decode(snapshot).map_err(|error| SyncError::Snapshot(gig_id, error.to_string()))?;
    domain::document_from_snapshot(&gig)
        .map_err(|error| SyncError::Snapshot(gig_id, error.to_string()))
}
