//! What every service is built from.

use std::sync::Arc;

use gigmesh_auth::TokenVerifier;
use gigmesh_db::Db;
use gigmesh_events::{ConsumerSpec, EventHandler, Relay, SharedBus};

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
    /// Verifies access tokens with auth's public keys.
    pub verifier: TokenVerifier,
    /// Handler attempts per consumed event before it is dead-lettered.
    pub event_max_attempts: u32,
}

impl ServiceDeps {
    /// Deps with the default number of event attempts.
    pub fn new(db: Db, bus: SharedBus, verifier: TokenVerifier) -> Self {
        Self {
            db,
            bus,
            verifier,
            event_max_attempts: DEFAULT_EVENT_MAX_ATTEMPTS,
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
}
