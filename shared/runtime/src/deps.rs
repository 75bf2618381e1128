//! What every service is built from.

use std::sync::Arc;

use gigmesh_auth::{RevokedSessions, TokenVerifier};
use gigmesh_db::{Db, DbError};
use gigmesh_events::{BackgroundTask, ConsumerSpec, EventHandler, Relay, SharedBus};

use crate::revocation::{self, RevokedSessionsLoader};

/// Handler attempts per event before it is dead-lettered, unless configured
/// (`bus.event_max_attempts`).
const DEFAULT_EVENT_MAX_ATTEMPTS: u32 = 5;

/// The ports a service needs, chosen by the composition root: its own database, the event
/// bus, the verifier of access tokens, and how often its consumers try an event.
#[derive(Clone)]
pub struct ServiceDeps {
    /// The service's own database (SQLite in dev, PostgreSQL in production).
    pub db: Db,
    /// The event bus (embedded log in dev, Kafka in production).
    pub bus: SharedBus,
    /// Verifies access tokens with auth's public keys, and refuses those of the sessions in
    /// [`ServiceDeps::revoked_sessions`].
    pub verifier: TokenVerifier,
    /// Handler attempts per consumed event before it is dead-lettered.
    pub event_max_attempts: u32,
    /// The ended sessions this service has learnt, fed by [`ServiceDeps::revocation_tasks`].
    pub revoked_sessions: RevokedSessions,
}

impl ServiceDeps {
    /// Deps with the default number of event attempts. The verifier is made to refuse the
    /// service's own set of revoked sessions (its keys stay shared with `verifier`).
    pub fn new(db: Db, bus: SharedBus, verifier: TokenVerifier) -> Self {
        let revoked_sessions = RevokedSessions::new();
        Self {
            db,
            bus,
            verifier: verifier.refusing(revoked_sessions.clone()),
            event_max_attempts: DEFAULT_EVENT_MAX_ATTEMPTS,
            revoked_sessions,
        }
    }

    /// The same deps with consumers trying each event `event_max_attempts` times.
    pub fn with_event_max_attempts(mut self, event_max_attempts: u32) -> Self {
        self.event_max_attempts = event_max_attempts;
        self
    }

    /// The consumer group `name` (also its inbox name; keep it stable) reading `topics`
    /// into the service's database through `handler`, not yet subscribed.
    pub fn consumer(
        &self,
        name: &str,
        topics: &[&str],
        handler: Arc<dyn EventHandler>,
    ) -> ConsumerSpec {
        ConsumerSpec::new(name, self.db.clone(), self.bus.clone(), topics, handler)
            .with_max_attempts(self.event_max_attempts)
    }

    /// The relay that publishes the service's outbox, named `service` in logs and metrics.
    pub fn relay(&self, service: &str) -> Relay {
        Relay::new(self.db.clone(), self.bus.clone()).with_name(service)
    }

    /// The consumer of auth's `SessionsRevoked` for `service` (its group and inbox name are
    /// `<service>.revoked-sessions`), not yet subscribed.
    pub fn revoked_sessions_consumer(&self, service: &str) -> ConsumerSpec {
        self.consumer(
            &revocation::consumer_name(service),
            &[gigmesh_proto::auth::TOPIC],
            revocation::handler(&self.revoked_sessions),
        )
    }

    /// The loops that keep [`ServiceDeps::revoked_sessions`] current: the consumer of auth's
    /// revocations and the loader every replica runs. Every service that serves signed-in
    /// calls runs them with its other background tasks.
    pub fn revocation_tasks(&self, service: &str) -> Vec<Box<dyn BackgroundTask>> {
        vec![
            Box::new(self.revoked_sessions_consumer(service)),
            Box::new(RevokedSessionsLoader::new(
                service,
                self.db.clone(),
                self.revoked_sessions.clone(),
            )),
        ]
    }

    /// Loads the stored revoked sessions now (what the loader does every second); returns
    /// how many are refused.
    pub async fn load_revoked_sessions(&self) -> Result<usize, DbError> {
        revocation::load_revoked_sessions(&self.db, &self.revoked_sessions).await
    }
}
