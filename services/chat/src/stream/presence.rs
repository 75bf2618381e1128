//! Presence: every user with a stream open on this replica is written online, with an
//! expiry a little past the next refresh; a closed stream's user is forgotten at the next
//! refresh (at once when the hub says the user's last stream closed), and a replica that
//! died is forgotten when its rows expire.

use std::time::Duration;

use async_trait::async_trait;
use gigmesh_db::{Db, DbError};
use gigmesh_events::BackgroundTask;
use gigmesh_types::Clock;
use tokio_util::sync::CancellationToken;

use super::StreamHub;
use crate::store;

/// How often presence is written while nothing opens or closes.
pub const PRESENCE_REFRESH: Duration = Duration::from_secs(20);

/// How long a presence row holds without a refresh: three refreshes.
const PRESENCE_TTL_MILLIS: i64 = 60_000;

/// Users per statement batch of a refresh.
const REFRESH_CHUNK: usize = 500;

/// The loop writing this replica's presence.
#[derive(Clone)]
pub struct PresenceTask {
    db: Db,
    hub: StreamHub,
    clock: Clock,
    replica_id: String,
}

impl PresenceTask {
    /// The presence of `hub`'s streams, as replica `replica_id`.
    pub fn new(db: Db, hub: StreamHub, clock: Clock, replica_id: String) -> Self {
        Self {
            db,
            hub,
            clock,
            replica_id,
        }
    }

    /// Writes who is online here now and forgets who is not; how many users are online
    /// here.
    pub async fn run_once(&self) -> Result<usize, DbError> {
        let now = self.clock.now_millis();
        let expire_time = now + PRESENCE_TTL_MILLIS;
        let refresh_id = uuid::Uuid::now_v7().to_string();
        let online = self.hub.online_users();
        for chunk in online.chunks(REFRESH_CHUNK) {
            let mut tx = self.db.begin().await?;
            store::presence::refresh(&mut tx, &self.replica_id, &refresh_id, chunk, expire_time)
                .await?;
            tx.commit().await?;
        }
        store::presence::forget_stale(self.db.pool(), &self.replica_id, &refresh_id, now).await?;
        Ok(online.len())
    }
}

#[async_trait]
impl BackgroundTask for PresenceTask {
    fn name(&self) -> &str {
        "chat.presence"
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.run_once().await {
                tracing::warn!(error = format!("{error:#}"), "cannot write presence");
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.hub.presence_changed() => {}
                () = tokio::time::sleep(PRESENCE_REFRESH) => {}
            }
        }
        // Closing: this replica's streams end now; nobody is online here any more.
        let now = self.clock.now_millis();
        if let Err(error) =
            store::presence::forget_stale(self.db.pool(), &self.replica_id, "", now).await
        {
            tracing::warn!(
                error = format!("{error:#}"),
                "cannot clear presence at shutdown"
            );
        }
    }
}
