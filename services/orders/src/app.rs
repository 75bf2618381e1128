//! Assembly of the order service: its description, its routes and its background loops
//! (the outbox relay, the consumer of the gig and payment events, the consumer of chat's
//! accepted custom offers, the timer loop, and the revocation tasks every service that
//! serves signed-in calls runs).

use std::sync::Arc;
use std::time::Duration;

use gigmesh_events::{BackgroundTask, Consumer, ConsumerSpec, Relay};
use gigmesh_proto::orders::order_service_server::{OrderServiceServer, SERVICE_NAME};
use gigmesh_runtime::{Description, Service, ServiceDeps};
use gigmesh_types::Clock;
use tonic::service::Routes;

use crate::api::OrderApi;
use crate::config::Config;
use crate::events::{
    CONSUMER_NAME, CUSTOM_OFFERS_CONSUMER_NAME, CustomOffersHandler, UpstreamEventsHandler,
};
use crate::timers::TimerLoop;
use crate::use_cases::Orders;

/// Migrations of the service's own tables.
pub static MIGRATIONS: gigmesh_db::Migrations = gigmesh_db::migrations!();

/// The order service, built from its ports.
#[derive(Clone)]
pub struct App {
    deps: ServiceDeps,
    config: Config,
    clock: Clock,
}

#[async_trait::async_trait]
impl Service for App {
    type Config = Config;

    const DESCRIPTION: Description = Description {
        name: "orders",
        summary: "Orders of gigs: payment, requirements, delivery, revisions, extensions, cancellations, disputes.",
        grpc_services: &[SERVICE_NAME],
        produces: &[gigmesh_proto::orders::TOPIC],
        consumes: &[
            gigmesh_proto::gigs::TOPIC,
            gigmesh_proto::payments::TOPIC,
            gigmesh_proto::chat::TOPIC,
            gigmesh_proto::auth::TOPIC,
        ],
        migrations: &[
            &MIGRATIONS,
            &gigmesh_events::EVENTS_MIGRATIONS,
            &gigmesh_runtime::REVOCATION_MIGRATIONS,
        ],
        default_port: 50056,
        issues_tokens: false,
        retention: &[],
    };

    async fn assemble(deps: ServiceDeps, config: Config) -> anyhow::Result<App> {
        crate::metrics::describe_metrics();
        Ok(App {
            deps,
            config,
            clock: Clock::system(),
        })
    }

    /// `gigmesh.orders.v1.OrderService`, behind the caller layer that verifies access
    /// tokens.
    fn routes(&self) -> Routes {
        let api = OrderApi::new(self.orders());
        gigmesh_grpc::with_caller(
            Routes::new(OrderServiceServer::new(api)),
            self.deps.verifier.clone(),
        )
    }

    /// The outbox relay, the consumers of the gig, payment and chat events, the timer loop
    /// and the revocation tasks.
    fn background(&self) -> Vec<Box<dyn BackgroundTask>> {
        let mut tasks: Vec<Box<dyn BackgroundTask>> = vec![
            Box::new(self.relay()),
            Box::new(self.upstream_events()),
            Box::new(self.custom_offers()),
            Box::new(self.timers()),
        ];
        tasks.extend(self.deps.revocation_tasks(Self::DESCRIPTION.name));
        tasks
    }
}

impl App {
    /// Builds the service as [`Service::build`] does (settings checked, database migrated,
    /// topics created), reading the time from `clock`: tests pass a `ManualClock`'s clock
    /// to move time instead of waiting for it.
    pub async fn build_with_clock(
        deps: ServiceDeps,
        config: Config,
        clock: Clock,
    ) -> anyhow::Result<App> {
        let mut app = <App as Service>::build(deps, config).await?;
        app.clock = clock;
        Ok(app)
    }

    fn orders(&self) -> Orders {
        Orders::new(self.deps.db.clone(), &self.config, self.clock.clone())
    }

    /// The consumer of the gig and payment services' events, not yet subscribed.
    pub fn upstream_events(&self) -> ConsumerSpec {
        self.deps.consumer(
            CONSUMER_NAME,
            &[gigmesh_proto::gigs::TOPIC, gigmesh_proto::payments::TOPIC],
            Arc::new(UpstreamEventsHandler::new(self.clock.clone())),
        )
    }

    /// The consumer of chat's accepted custom offers, not yet subscribed.
    pub fn custom_offers(&self) -> ConsumerSpec {
        self.deps.consumer(
            CUSTOM_OFFERS_CONSUMER_NAME,
            &[gigmesh_proto::chat::TOPIC],
            Arc::new(CustomOffersHandler::new(
                self.clock.clone(),
                self.config.fees(),
                self.config.payment_window_millis(),
            )),
        )
    }

    /// The consumer of chat's accepted custom offers, subscribed, for the caller to step
    /// with `poll_once`.
    pub async fn custom_offers_consumer(&self) -> anyhow::Result<Consumer> {
        Ok(self.custom_offers().subscribe().await?)
    }

    /// The consumer of the gig and payment services' events, subscribed, for the caller to
    /// step with `poll_once`.
    pub async fn upstream_events_consumer(&self) -> anyhow::Result<Consumer> {
        Ok(self.upstream_events().subscribe().await?)
    }

    /// The relay that publishes this service's outbox, for the caller to run or to step with
    /// `run_once`.
    pub fn relay(&self) -> Relay {
        self.deps.relay(Self::DESCRIPTION.name)
    }

    /// The loop applying due timers, for the caller to run or to step with `run_once`.
    pub fn timers(&self) -> TimerLoop {
        TimerLoop::new(
            self.deps.db.clone(),
            self.clock.clone(),
            self.config.timer_batch_size,
            Duration::from_secs(self.config.timer_interval_seconds),
        )
    }
}
