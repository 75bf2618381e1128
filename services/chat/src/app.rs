//! Assembly of the chat service: its description, its routes and its background loops
//! (the outbox relay, the consumer of the gig and order events, this replica's consumer of
//! its own topic that wakes the streams it holds, the timer loop, presence, the closing of
//! streams at shutdown, and the revocation tasks).

use std::sync::Arc;
use std::time::Duration;

use gigmesh_events::{BackgroundTask, Consumer, ConsumerSpec, Relay};
use gigmesh_proto::chat::chat_service_server::{ChatServiceServer, SERVICE_NAME};
use gigmesh_runtime::retention::RetentionRule;
use gigmesh_runtime::{Description, Service, ServiceDeps};
use gigmesh_types::Clock;
use tonic::service::Routes;

use crate::api::ChatApi;
use crate::config::Config;
use crate::consumers::{StreamWakeHandler, UPSTREAM_CONSUMER_NAME, UpstreamEventsHandler};
use crate::stream::{
    ChatStreamCodec, OPEN_STREAMS, PresenceTask, StreamCloser, StreamHub, StreamOpener,
};
use crate::timers::TimerLoop;
use crate::use_cases::Chat;

/// Migrations of the service's own tables.
pub static MIGRATIONS: gigmesh_db::Migrations = gigmesh_db::migrations!();

/// The chat tables that grow with use: stream events past the time a client could still
/// resume (a client resuming from an older event reloads), and response-time samples past
/// the 30-day window.
const RETENTION: &[RetentionRule] = &[
    gigmesh_streams::stream_events_retention("chat_stream_events"),
    RetentionRule {
        name: "chat_response_samples",
        table: "response_samples",
        expired: "first_message_time < $1",
        default_horizon_hours: 31 * 24,
    },
];

/// The chat service, built from its ports.
#[derive(Clone)]
pub struct App {
    deps: ServiceDeps,
    config: Config,
    clock: Clock,
    hub: StreamHub,
}

#[async_trait::async_trait]
impl Service for App {
    type Config = Config;

    const DESCRIPTION: Description = Description {
        name: "chat",
        summary: "Conversations between buyers and sellers: messages, read receipts, custom offers, live streams.",
        grpc_services: &[SERVICE_NAME],
        produces: &[gigmesh_proto::chat::TOPIC],
        consumes: &[
            gigmesh_proto::gigs::TOPIC,
            gigmesh_proto::orders::TOPIC,
            gigmesh_proto::chat::TOPIC,
            gigmesh_proto::auth::TOPIC,
        ],
        migrations: &[
            &MIGRATIONS,
            &gigmesh_events::EVENTS_MIGRATIONS,
            &gigmesh_runtime::REVOCATION_MIGRATIONS,
            &gigmesh_streams::STREAM_MIGRATIONS,
        ],
        default_port: 50058,
        issues_tokens: false,
        retention: RETENTION,
    };

    async fn assemble(deps: ServiceDeps, config: Config) -> anyhow::Result<App> {
        metrics::describe_gauge!(OPEN_STREAMS, "Event streams open on this chat replica.");
        Ok(App {
            deps,
            config,
            clock: Clock::system(),
            hub: StreamHub::new(OPEN_STREAMS),
        })
    }

    /// `gigmesh.chat.v1.ChatService`, behind the caller layer that verifies access tokens.
    fn routes(&self) -> Routes {
        let api = ChatApi::new(self.chat(), self.stream_opener());
        gigmesh_grpc::with_caller(
            Routes::new(ChatServiceServer::new(api)),
            self.deps.verifier.clone(),
        )
    }

    /// The relay, the consumers, the timer loop, presence, the stream closer and the
    /// revocation tasks.
    fn background(&self) -> Vec<Box<dyn BackgroundTask>> {
        let mut tasks: Vec<Box<dyn BackgroundTask>> = vec![
            Box::new(self.relay()),
            Box::new(self.upstream_events()),
            Box::new(self.stream_wakes()),
            Box::new(self.timers()),
            Box::new(self.presence()),
            Box::new(StreamCloser::new(self.hub.clone())),
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

    fn chat(&self) -> Chat {
        Chat::new(
            self.deps.db.clone(),
            &self.config,
            self.clock.clone(),
            self.hub.clone(),
        )
    }

    fn stream_opener(&self) -> StreamOpener {
        StreamOpener::new(
            self.deps.db.clone(),
            self.hub.clone(),
            self.clock.clone(),
            Some(self.deps.revoked_sessions.clone()),
            self.config.heartbeat_interval(),
            ChatStreamCodec,
        )
    }

    /// The streams this replica holds.
    pub fn hub(&self) -> StreamHub {
        self.hub.clone()
    }

    /// The consumer of the gig and order events, not yet subscribed.
    pub fn upstream_events(&self) -> ConsumerSpec {
        self.deps.consumer(
            UPSTREAM_CONSUMER_NAME,
            &[gigmesh_proto::gigs::TOPIC, gigmesh_proto::orders::TOPIC],
            Arc::new(UpstreamEventsHandler::new(
                self.clock.clone(),
                self.hub.clone(),
            )),
        )
    }

    /// The consumer of the gig and order events, subscribed, for the caller to step with
    /// `poll_once`.
    pub async fn upstream_events_consumer(&self) -> anyhow::Result<Consumer> {
        Ok(self.upstream_events().subscribe().await?)
    }

    /// This replica's consumer of the chat topic (its own group,
    /// `chat.streams.<replica_id>`), which wakes the streams it holds.
    pub fn stream_wakes(&self) -> ConsumerSpec {
        self.deps.consumer(
            &self.config.stream_consumer_name(),
            &[gigmesh_proto::chat::TOPIC],
            Arc::new(StreamWakeHandler::new(self.hub.clone())),
        )
    }

    /// The relay that publishes this service's outbox, for the caller to run or to step with
    /// `run_once`.
    pub fn relay(&self) -> Relay {
        self.deps.relay(Self::DESCRIPTION.name)
    }

    /// The timer loop, for the caller to run or to step with `run_once`.
    pub fn timers(&self) -> TimerLoop {
        TimerLoop::new(
            self.chat(),
            self.deps.db.clone(),
            self.clock.clone(),
            self.config.timer_batch_size,
            Duration::from_secs(self.config.timer_interval_seconds),
        )
    }

    /// The presence loop, for the caller to run or to step with `run_once`.
    pub fn presence(&self) -> PresenceTask {
        PresenceTask::new(
            self.deps.db.clone(),
            self.hub.clone(),
            self.clock.clone(),
            self.config.replica_id.clone(),
        )
    }
}
