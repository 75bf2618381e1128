//! Assembly of the gig service: its description, its routes and its background loops.

use std::sync::Arc;

use gigmesh_events::{BackgroundTask, Consumer, ConsumerSpec, Relay};
use gigmesh_proto::gigs::gig_service_server::{GigServiceServer, SERVICE_NAME};
use gigmesh_runtime::{Description, Service, ServiceDeps};
use tonic::service::Routes;

use crate::api::GigApi;
use crate::config::Config;
use crate::events::{CONSUMER_NAME, UpstreamEventsHandler};

/// Migrations of the service's own tables.
pub static MIGRATIONS: gigmesh_db::Migrations = gigmesh_db::migrations!();

/// The gig service, built from its ports.
#[derive(Clone)]
pub struct App {
    deps: ServiceDeps,
    config: Config,
}

#[async_trait::async_trait]
impl Service for App {
    type Config = Config;

    const DESCRIPTION: Description = Description {
        name: "gigs",
        summary: "Gigs, packages, the category taxonomy, favourites.",
        grpc_services: &[SERVICE_NAME],
        produces: &[gigmesh_proto::gigs::TOPIC],
        consumes: &[
            gigmesh_proto::users::TOPIC,
            gigmesh_proto::reviews::TOPIC,
            gigmesh_proto::auth::TOPIC,
        ],
        migrations: &[
            &MIGRATIONS,
            &gigmesh_events::EVENTS_MIGRATIONS,
            &gigmesh_runtime::REVOCATION_MIGRATIONS,
        ],
        default_port: 50054,
        issues_tokens: false,
        retention: &[],
    };

    async fn assemble(deps: ServiceDeps, config: Config) -> anyhow::Result<App> {
        Ok(App { deps, config })
    }

    /// `gigmesh.gigs.v1.GigService`, behind the caller layer that verifies access tokens.
    fn routes(&self) -> Routes {
        let api = GigApi::new(self.deps.db.clone(), &self.config);
        gigmesh_grpc::with_caller(
            Routes::new(GigServiceServer::new(api)),
            self.deps.verifier.clone(),
        )
    }

    /// The outbox relay and the consumer of the users and reviews events.
    fn background(&self) -> Vec<Box<dyn BackgroundTask>> {
        let mut tasks: Vec<Box<dyn BackgroundTask>> =
            vec![Box::new(self.relay()), Box::new(self.upstream_events())];
        tasks.extend(self.deps.revocation_tasks(Self::DESCRIPTION.name));
        tasks
    }
}

impl App {
    /// The consumer of the users and reviews services' events, not yet subscribed.
    pub fn upstream_events(&self) -> ConsumerSpec {
        self.deps.consumer(
            CONSUMER_NAME,
            &[gigmesh_proto::users::TOPIC, gigmesh_proto::reviews::TOPIC],
            Arc::new(UpstreamEventsHandler::new(self.config.max_gigs_per_seller)),
        )
    }

    /// The consumer of the users and reviews services' events, subscribed, for the caller to
    /// step with `poll_once`.
    pub async fn upstream_events_consumer(&self) -> anyhow::Result<Consumer> {
        Ok(self.upstream_events().subscribe().await?)
    }

    /// The relay that publishes this service's outbox, for the caller to run or to step with
    /// `run_once`.
    pub fn relay(&self) -> Relay {
        self.deps.relay(Self::DESCRIPTION.name)
    }
}
