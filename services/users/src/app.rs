//! Configuration and assembly of the user service.

use std::sync::Arc;

use anyhow::Context as _;
use gigmesh_config::{Problems, Validate};
use gigmesh_events::{BackgroundTask, Consumer, ConsumerSpec, Relay};
use gigmesh_grpc::ServiceDeps;
use gigmesh_proto::users::user_service_server::{SERVICE_NAME, UserServiceServer};
use serde::{Deserialize, Serialize};
use tonic::service::Routes;

use crate::api::UserApi;
use crate::events::{AUTH_TOPIC, AuthEventsHandler, CONSUMER_NAME, USERS_TOPIC};

/// Migrations of the service's own tables.
pub static MIGRATIONS: gigmesh_db::Migrations = gigmesh_db::migrations!();

/// Applies the service's tables and the event tables (outbox, inbox, dead letters) to `db`.
pub async fn migrate(db: &gigmesh_db::Db) -> anyhow::Result<()> {
    db.migrate(&[&MIGRATIONS, &gigmesh_events::EVENTS_MIGRATIONS])
        .await
        .context("cannot migrate the users database")
}

/// Settings of the user service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How often a consumed event is tried before it is dead-lettered.
    pub event_max_attempts: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
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
        Ok(gigmesh_config::check(self, "users.settings")?)
    }
}

/// The user service, built from its ports.
#[derive(Clone)]
pub struct App {
    deps: ServiceDeps,
    config: Config,
}

impl App {
    /// Validates `config` and migrates the database (profiles and the event tables).
    pub async fn build(deps: ServiceDeps, config: Config) -> anyhow::Result<App> {
        config.check()?;
        migrate(&deps.db).await?;
        deps.bus
            .ensure_topics(&[USERS_TOPIC, AUTH_TOPIC])
            .await
            .context("create the users event topics")?;
        Ok(App { deps, config })
    }

    /// `gigmesh.users.v1.UserService`, behind the caller layer that verifies access tokens.
    pub fn routes(&self) -> Routes {
        let server = UserServiceServer::new(UserApi::new(self.deps.db.clone()));
        gigmesh_grpc::with_caller(Routes::new(server), self.deps.verifier.clone())
    }

    /// Fully qualified names of the gRPC services in [`App::routes`], for health.
    pub fn service_names(&self) -> Vec<String> {
        vec![SERVICE_NAME.to_owned()]
    }

    /// The consumer of auth's events, not yet subscribed.
    pub fn auth_events(&self) -> ConsumerSpec {
        ConsumerSpec::new(
            CONSUMER_NAME,
            self.deps.db.clone(),
            self.deps.bus.clone(),
            &[AUTH_TOPIC],
            Arc::new(AuthEventsHandler),
        )
        .with_max_attempts(self.config.event_max_attempts)
    }

    /// The consumer of auth's events, subscribed, for the caller to step with `poll_once`.
    pub async fn auth_events_consumer(&self) -> anyhow::Result<Consumer> {
        Ok(self.auth_events().subscribe().await?)
    }

    /// The relay that publishes this service's outbox, for the caller to run or to step with
    /// `run_once`.
    pub fn relay(&self) -> Relay {
        Relay::new(self.deps.db.clone(), self.deps.bus.clone()).with_name("users")
    }

    /// The loops the process runs beside the gRPC server: the outbox relay and the auth
    /// events consumer.
    pub fn background(&self) -> Vec<Box<dyn BackgroundTask>> {
        vec![Box::new(self.relay()), Box::new(self.auth_events())]
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
        };
        assert!(config.check().is_err());
    }
}
