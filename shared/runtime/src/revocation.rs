//! Revoked sessions reaching every service: an access token of a session that ended (log-out,
//! password change or reset, suspension) is refused everywhere within a second, not only by
//! auth.
//!
//! Auth announces ended sessions with `gigmesh.auth.v1.SessionsRevoked`. Every service that
//! serves signed-in calls consumes them into its own `revoked_sessions` table (one consumer
//! group per service, so one replica applies each event) and every replica loads that table
//! into the [`RevokedSessions`] its verifier consults, once a second
//! ([`LOAD_INTERVAL`]). The replica that applied an event knows it at once. Rows are
//! forgotten when the last access token of their session has expired.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gigmesh_auth::RevokedSessions;
use gigmesh_db::{Db, DbError, Tx};
use gigmesh_events::{BackgroundTask, Envelope, EventHandler, HandlerError, decode};
use gigmesh_proto::auth::SessionsRevoked;
use gigmesh_types::{millis_from_timestamp, now_millis};
use sqlx::Row as _;
use tokio_util::sync::CancellationToken;

/// Migrations of the `revoked_sessions` table, applied to the database of every service
/// that serves signed-in calls (see [`Description::learns_revoked_sessions`]).
///
/// [`Description::learns_revoked_sessions`]: crate::Description::learns_revoked_sessions
pub static REVOCATION_MIGRATIONS: gigmesh_db::Migrations = gigmesh_db::migrations!();

/// How often each replica loads the revoked sessions its service's consumer stored.
pub const LOAD_INTERVAL: Duration = Duration::from_secs(1);

/// The consumer group (and inbox name) of `service` on auth's revocations.
pub fn consumer_name(service: &str) -> String {
    format!("{service}.revoked-sessions")
}

/// Stores the sessions of `SessionsRevoked` in `revoked_sessions`, and, once committed, in
/// this replica's [`RevokedSessions`].
#[derive(Debug, Clone)]
pub struct RevokedSessionsHandler {
    revoked: RevokedSessions,
}

impl RevokedSessionsHandler {
    /// A handler that also tells `revoked` (the set this replica's verifier consults).
    pub fn new(revoked: RevokedSessions) -> Self {
        Self { revoked }
    }
}

#[async_trait]
impl EventHandler for RevokedSessionsHandler {
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError> {
        let Some(event) = decode::<SessionsRevoked>(envelope) else {
            return Ok(());
        };
        let event = event?;
        let expire_time = expire_time_of(&event);
        for session_id in &event.session_ids {
            sqlx::query(
                "INSERT INTO revoked_sessions (session_id, user_id, expire_time) \
                 VALUES ($1, $2, $3) ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(session_id)
            .bind(&event.user_id)
            .bind(expire_time)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    async fn after_commit(&self, envelope: &Envelope) {
        if let Some(Ok(event)) = decode::<SessionsRevoked>(envelope) {
            let expire_time = expire_time_of(&event);
            self.revoked.insert_all(
                event
                    .session_ids
                    .iter()
                    .map(|session_id| (session_id.as_str(), expire_time)),
            );
        }
    }
}

/// When the last token of the event's sessions expires; an event without it is kept for a
/// day, far longer than any access token lives.
fn expire_time_of(event: &SessionsRevoked) -> i64 {
    event
        .expire_time
        .as_ref()
        .map(millis_from_timestamp)
        .unwrap_or_else(|| now_millis() + 24 * 60 * 60 * 1000)
}

/// Loads the stored revoked sessions into `revoked` and deletes the rows nobody needs any
/// more; returns how many sessions are refused now.
pub async fn load_revoked_sessions(db: &Db, revoked: &RevokedSessions) -> Result<usize, DbError> {
    let now = now_millis();
    sqlx::query("DELETE FROM revoked_sessions WHERE expire_time < $1")
        .bind(now)
        .execute(db.pool())
        .await?;
    let rows = sqlx::query("SELECT session_id, expire_time FROM revoked_sessions")
        .fetch_all(db.pool())
        .await?;
    let mut sessions = Vec::with_capacity(rows.len());
    for row in rows {
        sessions.push((row.try_get("session_id")?, row.try_get("expire_time")?));
    }
    revoked.merge_and_forget_expired(sessions, now);
    Ok(revoked.len())
}

/// The loop that runs [`load_revoked_sessions`] every [`LOAD_INTERVAL`].
pub struct RevokedSessionsLoader {
    name: String,
    db: Db,
    revoked: RevokedSessions,
}

impl RevokedSessionsLoader {
    /// A loader of `service`'s stored revocations into `revoked`.
    pub fn new(service: &str, db: Db, revoked: RevokedSessions) -> Self {
        Self {
            name: format!("{service}.revoked-sessions-loader"),
            db,
            revoked,
        }
    }
}

#[async_trait]
impl BackgroundTask for RevokedSessionsLoader {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) {
        crate::process::every(LOAD_INTERVAL, &shutdown, || async {
            if let Err(error) = load_revoked_sessions(&self.db, &self.revoked).await {
                tracing::warn!(
                    task = self.name,
                    error = format!("{error:#}"),
                    "cannot load the revoked sessions; keeping the ones known"
                );
            }
        })
        .await;
    }
}

/// The handler as the consumer takes it.
pub(crate) fn handler(revoked: &RevokedSessions) -> Arc<dyn EventHandler> {
    Arc::new(RevokedSessionsHandler::new(revoked.clone()))
}
