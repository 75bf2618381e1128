//! Assembly of the user service: its description, routes and background loops.

use std::sync::Arc;

use gigmesh_events::{BackgroundTask, Consumer, ConsumerSpec, Relay};
use gigmesh_proto::users::user_service_server::{SERVICE_NAME, UserServiceServer};
use gigmesh_runtime::{Description, Service, ServiceDeps};
use tonic::service::Routes;

use crate::api::UserApi;
use crate::config::Config;
use crate::events::{AuthEventsHandler, CHAT_CONSUMER_NAME, CONSUMER_NAME, ChatEventsHandler};

/// Migrations of the service's own tables.
pub static MIGRATIONS: gigmesh_db::Migrations = gigmesh_db::migrations!();

/// The user service, built from its ports.
#[derive(Clone)]
pub struct App {
    deps: ServiceDeps,
}

#[async_trait::async_trait]
impl Service for App {
    type Config = Config;

    const DESCRIPTION: Description = Description {
        name: "users",
        summary: "Profiles and seller profiles.",
        grpc_services: &[SERVICE_NAME],
        produces: &[gigmesh_proto::users::TOPIC],
        consumes: &[gigmesh_proto::auth::TOPIC, gigmesh_proto::chat::TOPIC],
        migrations: &[
            &MIGRATIONS,
            &gigmesh_events::EVENTS_MIGRATIONS,
            &gigmesh_runtime::REVOCATION_MIGRATIONS,
        ],
        default_port: 50052,
        issues_tokens: false,
        retention: &[],
    };

    async fn assemble(deps: ServiceDeps, _config: Config) -> anyhow::Result<App> {
        Ok(App { deps })
    }

    /// `gigmesh.users.v1.UserService`, behind the caller layer that verifies access tokens.
    fn routes(&self) -> Routes {
        let server = UserServiceServer::new(UserApi::new(self.deps.db.clone()));
        gigmesh_grpc::with_caller(Routes::new(server), self.deps.verifier.clone())
    }

    /// The outbox relay, the auth events consumer and the revoked-sessions loops.
    fn background(&self) -> Vec<Box<dyn BackgroundTask>> {
        let mut tasks: Vec<Box<dyn BackgroundTask>> = vec![
            Box::new(self.relay()),
            Box::new(self.auth_events()),
            Box::new(self.chat_events()),
        ];
        tasks.extend(self.deps.revocation_tasks(Self::DESCRIPTION.name));
        tasks
    }
}

impl App {
    /// The consumer of auth's events, not yet subscribed.
    pub fn auth_events(&self) -> ConsumerSpec {
        self.deps.consumer(
            CONSUMER_NAME,
            &[gigmesh_proto::auth::TOPIC],
            Arc::new(AuthEventsHandler),
        )
    }

    /// The consumer of chat's response times, not yet subscribed.
    pub fn chat_events(&self) -> ConsumerSpec {
        self.deps.consumer(
            CHAT_CONSUMER_NAME,
            &[gigmesh_proto::chat::TOPIC],
            Arc::new(ChatEventsHandler),
        )
    }

    /// The consumer of chat's response times, subscribed, for the caller to step with
    /// `poll_once`.
    pub async fn chat_events_consumer(&self) -> anyhow::Result<Consumer> {
        Ok(self.chat_events().subscribe().await?)
    }

    /// The consumer of auth's events, subscribed, for the caller to step with `poll_once`.
    pub async fn auth_events_consumer(&self) -> anyhow::Result<Consumer> {
        Ok(self.auth_events().subscribe().await?)
    }

    /// The relay that publishes this service's outbox, for the caller to run or to step with
    /// `run_once`.
    pub fn relay(&self) -> Relay {
        self.deps.relay(Self::DESCRIPTION.name)
    }
}
