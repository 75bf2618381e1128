//! Configuration and assembly of the gig service.

use std::sync::Arc;

use anyhow::Context as _;
use gigmesh_config::{Problems, Validate};
use gigmesh_events::{BackgroundTask, Consumer, ConsumerSpec, Relay};
use gigmesh_grpc::ServiceDeps;
use gigmesh_proto::gigs::gig_service_server::{GigServiceServer, SERVICE_NAME};
use serde::{Deserialize, Serialize};
use tonic::service::Routes;

use crate::api::GigApi;
use crate::events::{CONSUMER_NAME, GIGS_TOPIC, REVIEWS_TOPIC, USERS_TOPIC, UpstreamEventsHandler};

/// Migrations of the service's own tables.
pub static MIGRATIONS: gigmesh_db::Migrations = gigmesh_db::migrations!();

/// Applies the service's tables and the event tables (outbox, inbox, dead letters) to `db`.
pub async fn migrate(db: &gigmesh_db::Db) -> anyhow::Result<()> {
    db.migrate(&[&MIGRATIONS, &gigmesh_events::EVENTS_MIGRATIONS])
        .await
        .context("cannot migrate the gigs database")
}

/// Settings of the gig service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Whether a published gig waits for an admin's approval before buyers see it; without
    /// it, publishing approves at once and admins moderate afterwards.
    pub require_review: bool,
    /// How often a consumed event is tried before it is dead-lettered.
    pub event_max_attempts: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            require_review: false,
            event_max_attempts: 5,
        }
    }
}

impl Validate for Config {
    fn validate(&self, path: &str, problems: &mut Problems) {
        if self.event_max_attempts == 0 {
            problems.add(path, "event_max_attempts", "must be at least 1");
        }
    }
}

impl Config {
    /// Checks the configuration as a whole (see [`Validate`]); the error lists every problem.
    pub fn check(&self) -> anyhow::Result<()> {
        Ok(gigmesh_config::check(self, "gigs.settings")?)
    }
}

/// The gig service, built from its ports.
#[derive(Clone)]
pub struct App {
    deps: ServiceDeps,
    config: Config,
}

impl App {
    /// Validates `config`, migrates the database (gigs and the event tables) and creates
    /// the topics the service produces to and consumes.
    pub async fn build(deps: ServiceDeps, config: Config) -> anyhow::Result<App> {
        config.check()?;
        migrate(&deps.db).await?;
        deps.bus
            .ensure_topics(&[GIGS_TOPIC, USERS_TOPIC, REVIEWS_TOPIC])
            .await
            .context("create the gigs event topics")?;
        Ok(App { deps, config })
    }

    /// `gigmesh.gigs.v1.GigService`, behind the caller layer that verifies access tokens.
    pub fn routes(&self) -> Routes {
        let api = GigApi::new(self.deps.db.clone(), self.config.require_review);
        gigmesh_grpc::with_caller(
            Routes::new(GigServiceServer::new(api)),
            self.deps.verifier.clone(),
        )
    }

    /// Fully qualified names of the gRPC services in [`App::routes`], for health.
    pub fn service_names(&self) -> Vec<String> {
        vec![SERVICE_NAME.to_owned()]
    }

    /// The consumer of the users and reviews services' events, not yet subscribed.
    pub fn upstream_events(&self) -> ConsumerSpec {
        ConsumerSpec::new(
            CONSUMER_NAME,
            self.deps.db.clone(),
            self.deps.bus.clone(),
            &[USERS_TOPIC, REVIEWS_TOPIC],
            Arc::new(UpstreamEventsHandler),
        )
        .with_max_attempts(self.config.event_max_attempts)
    }

    /// The consumer of the users and reviews services' events, subscribed, for the caller to
    /// step with `poll_once`.
    pub async fn upstream_events_consumer(&self) -> anyhow::Result<Consumer> {
        Ok(self.upstream_events().subscribe().await?)
    }

    /// The relay that publishes this service's outbox, for the caller to run or to step with
    /// `run_once`.
    pub fn relay(&self) -> Relay {
        Relay::new(self.deps.db.clone(), self.deps.bus.clone()).with_name("gigs")
    }

    /// The loops the process runs beside the gRPC server: the outbox relay and the consumer
    /// of the users and reviews events.
    pub fn background(&self) -> Vec<Box<dyn BackgroundTask>> {
        vec![Box::new(self.relay()), Box::new(self.upstream_events())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_zero_attempts_are_not() {
        assert!(Config::default().check().is_ok());
        let config = Config {
            event_max_attempts: 0,
            ..Config::default()
        };
        assert!(config.check().is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let parsed: Result<Config, _> =
            serde_json::from_str(r#"{"require_review": true, "nope": 1}"#);
        assert!(parsed.is_err());
        let parsed: Config = serde_json::from_str(r#"{"require_review": true}"#).expect("config");
        assert!(parsed.require_review);
        assert_eq!(parsed.event_max_attempts, 5);
    }
}
