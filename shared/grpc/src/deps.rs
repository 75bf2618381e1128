//! What every service is built from.

use gigmesh_auth::TokenVerifier;
use gigmesh_db::Db;
use gigmesh_events::SharedBus;

/// The ports a service needs, chosen by the composition root: its own database, the event
/// bus, and the verifier of access tokens.
#[derive(Clone)]
pub struct ServiceDeps {
    /// The service's own database (SQLite in dev, PostgreSQL in production).
    pub db: Db,
    /// The event bus (embedded log in dev, Kafka in production).
    pub bus: SharedBus,
    /// Verifies access tokens with auth's public keys.
    pub verifier: TokenVerifier,
}
