//! What a service crate implements once: its description and how it is built.

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use gigmesh_auth::JwksSource;
use gigmesh_config::Validate;
use gigmesh_db::{Db, Migrations};
use gigmesh_events::BackgroundTask;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::service::Routes;

use crate::deps::ServiceDeps;
use crate::retention::RetentionRule;
use crate::revocation::REVOCATION_MIGRATIONS;

/// What a service is, as data: everything the composition root, the gateway and the
/// configuration need to know about it without building it.
#[derive(Debug, Clone, Copy)]
pub struct Description {
    /// Lowercase name: `gigmesh serve <name>`, the configuration section `<name>`, the
    /// `upstreams.<name>` address, the SQLite file `<name>.db`, logs and metrics.
    pub name: &'static str,
    /// One line for `--help`.
    pub summary: &'static str,
    /// Fully qualified gRPC services it serves (health reports them; the gateway routes
    /// their calls to it).
    pub grpc_services: &'static [&'static str],
    /// Topics its outbox publishes to.
    pub produces: &'static [&'static str],
    /// Topics its consumers read.
    pub consumes: &'static [&'static str],
    /// Migration sets of its database, applied in order (its own tables, then the event
    /// tables of shared/events).
    pub migrations: &'static [&'static Migrations],
    /// Port it listens on in distributed mode unless configured (`<name>.listen`).
    pub default_port: u16,
    /// Whether it signs the access tokens itself (auth): it verifies with its own keys, and
    /// every other verifier reads its public keys.
    pub issues_tokens: bool,
    /// Its own tables that grow with use, and when their rows are past it; the
    /// [retention task](crate::retention) deletes them, after the event tables'.
    pub retention: &'static [RetentionRule],
}

impl Description {
    /// Every topic it produces to or consumes, each once.
    pub fn topics(&self) -> Vec<&'static str> {
        let mut topics: Vec<&'static str> = Vec::new();
        for topic in self.produces.iter().chain(self.consumes) {
            if !topics.contains(topic) {
                topics.push(topic);
            }
        }
        topics
    }

    /// Whether the service must refuse tokens of sessions auth ended: every service that
    /// serves calls, except auth (which checks its own sessions table). Such a service lists
    /// [`REVOCATION_MIGRATIONS`], consumes auth's topic and runs
    /// [`ServiceDeps::revocation_tasks`]; [`prepare`] refuses one that does not.
    pub fn learns_revoked_sessions(&self) -> bool {
        !self.grpc_services.is_empty() && !self.issues_tokens
    }

    /// What is missing for [`Description::learns_revoked_sessions`], if anything.
    fn revocation_gap(&self) -> Option<&'static str> {
        if !self.learns_revoked_sessions() {
            return None;
        }
        if !self
            .migrations
            .iter()
            .any(|set| std::ptr::eq(*set, &REVOCATION_MIGRATIONS))
        {
            return Some("its migrations do not list gigmesh_runtime::REVOCATION_MIGRATIONS");
        }
        if !self.consumes.contains(&gigmesh_proto::auth::TOPIC) {
            return Some("it does not consume gigmesh_proto::auth::TOPIC");
        }
        None
    }
}

/// What a service's settings type must be: typed, with defaults, read from the layered
/// configuration, printable (secrets as `Secret<T>`) and able to check itself.
pub trait ServiceConfig:
    Debug + Clone + Default + Serialize + DeserializeOwned + Validate + Send + Sync + 'static
{
}

impl<T> ServiceConfig for T where
    T: Debug + Clone + Default + Serialize + DeserializeOwned + Validate + Send + Sync + 'static
{
}

/// A gigmesh service: implemented once by each service crate's `App`.
#[async_trait]
pub trait Service: Sized + Send + Sync + 'static {
    /// The service's own settings (`<name>.settings`).
    type Config: ServiceConfig;

    /// What the service is.
    const DESCRIPTION: Description;

    /// Assembles the service from deps whose database is migrated and whose topics exist.
    /// Callers use [`Service::build`].
    async fn assemble(deps: ServiceDeps, config: Self::Config) -> anyhow::Result<Self>;

    /// Its gRPC routes, behind the caller layer.
    fn routes(&self) -> Routes;

    /// The loops the process runs beside the gRPC server (outbox relay, consumers).
    fn background(&self) -> Vec<Box<dyn BackgroundTask>>;

    /// Points settings left at their defaults under `data_dir` (dev mode keeps everything
    /// there); the database needs nothing here.
    fn use_data_dir(_config: &mut Self::Config, _data_dir: &Path) {}

    /// The public keys of the tokens it signs, for verifiers in the same process (only the
    /// service that [issues tokens](Description::issues_tokens)).
    fn jwks_source(&self) -> Option<Arc<dyn JwksSource>> {
        None
    }

    /// Creates the demo data `gigmesh dev` starts with (auth: the demo accounts).
    async fn seed_demo_data(&self) -> anyhow::Result<()> {
        Ok(())
    }

    /// Validates `config`, applies the migrations, creates the topics, then assembles: how
    /// the binary, the tests and the benchmarks build every service.
    async fn build(deps: ServiceDeps, config: Self::Config) -> anyhow::Result<Self> {
        prepare(&Self::DESCRIPTION, &deps, &config).await?;
        Self::assemble(deps, config).await
    }

    /// Fully qualified names of the gRPC services in [`Service::routes`], for health.
    fn service_names(&self) -> Vec<String> {
        Self::DESCRIPTION
            .grpc_services
            .iter()
            .map(|name| (*name).to_owned())
            .collect()
    }
}

/// What [`Service::build`] does before assembling: checks `config` (every problem at once,
/// named `<name>.settings.<key>`), migrates the database and creates the topics.
pub async fn prepare(
    description: &Description,
    deps: &ServiceDeps,
    config: &(dyn Validate + Sync),
) -> anyhow::Result<()> {
    if let Some(gap) = description.revocation_gap() {
        anyhow::bail!(
            "the {} service serves signed-in calls but cannot learn revoked sessions: {gap}",
            description.name
        );
    }
    gigmesh_config::check(config, &format!("{}.settings", description.name))?;
    migrate(description, &deps.db).await?;
    deps.bus
        .ensure_topics(&description.topics())
        .await
        .with_context(|| format!("cannot create the {} event topics", description.name))?;
    Ok(())
}

/// Applies the service's migration sets to `db`.
pub async fn migrate(description: &Description, db: &Db) -> anyhow::Result<()> {
    db.migrate(description.migrations)
        .await
        .with_context(|| format!("cannot migrate the {} database", description.name))
}

/// A built service of any kind, as the composition root holds it.
#[async_trait]
pub trait ServiceApp: Send + Sync {
    /// What the service is.
    fn description(&self) -> Description;
    /// Its gRPC routes.
    fn routes(&self) -> Routes;
    /// Its background loops.
    fn background(&self) -> Vec<Box<dyn BackgroundTask>>;
    /// The public keys it signs with, when it issues tokens.
    fn jwks_source(&self) -> Option<Arc<dyn JwksSource>>;
    /// Creates the dev-mode demo data.
    async fn seed_demo_data(&self) -> anyhow::Result<()>;
}

#[async_trait]
impl<S: Service> ServiceApp for S {
    fn description(&self) -> Description {
        S::DESCRIPTION
    }

    fn routes(&self) -> Routes {
        Service::routes(self)
    }

    fn background(&self) -> Vec<Box<dyn BackgroundTask>> {
        Service::background(self)
    }

    fn jwks_source(&self) -> Option<Arc<dyn JwksSource>> {
        Service::jwks_source(self)
    }

    async fn seed_demo_data(&self) -> anyhow::Result<()> {
        Service::seed_demo_data(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVES_CALLS: Description = Description {
        name: "probe",
        summary: "A service that serves signed-in calls.",
        grpc_services: &["gigmesh.probe.v1.ProbeService"],
        produces: &[],
        consumes: &[gigmesh_proto::auth::TOPIC],
        migrations: &[&gigmesh_events::EVENTS_MIGRATIONS, &REVOCATION_MIGRATIONS],
        default_port: 50099,
        issues_tokens: false,
        retention: &[],
    };

    const EVENTS_ONLY: &[&Migrations] = &[&gigmesh_events::EVENTS_MIGRATIONS];

    #[test]
    fn a_service_that_serves_calls_must_learn_revoked_sessions() {
        assert_eq!(SERVES_CALLS.revocation_gap(), None);
        let without_table = Description {
            migrations: EVENTS_ONLY,
            ..SERVES_CALLS
        };
        assert!(
            without_table
                .revocation_gap()
                .is_some_and(|gap| gap.contains("REVOCATION_MIGRATIONS"))
        );
        let without_topic = Description {
            consumes: &[],
            ..SERVES_CALLS
        };
        assert!(
            without_topic
                .revocation_gap()
                .is_some_and(|gap| gap.contains("auth::TOPIC"))
        );
        // Auth checks its own sessions; a service without calls has no tokens to refuse.
        let issuer = Description {
            issues_tokens: true,
            ..without_table
        };
        assert_eq!(issuer.revocation_gap(), None);
        let no_calls = Description {
            grpc_services: &[],
            ..without_table
        };
        assert_eq!(no_calls.revocation_gap(), None);
    }
}
