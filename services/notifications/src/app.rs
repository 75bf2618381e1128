//! Assembly of the notification service: the configured mailer, the sender address, the
//! consumer of auth's events, the consumer of orders', payments' and users' events, the
//! consumer of chat's messages and reads with the loop that mails unread messages, built
//! from the service's ports.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use gigmesh_events::{BackgroundTask, Consumer, ConsumerSpec};
use gigmesh_runtime::{Description, Service, ServiceDeps};
use gigmesh_types::Clock;
use lettre::message::Mailbox;
use tonic::service::Routes;

use crate::config::Config;
use crate::digests::{CHAT_EVENTS_CONSUMER_NAME, ChatEventsHandler, DigestLoop};
use crate::domain::WebApp;
use crate::events::{AuthEventsHandler, CONSUMER_NAME};
use crate::mail_token::MailTokenKeys;
use crate::mailer::{Mailer, mailer_from_config};
use crate::order_events::{ORDER_EVENTS_CONSUMER_NAME, ORDER_EVENTS_TOPICS, OrderEventsHandler};
use crate::store::{self, SentMail};

/// Migrations of the service's own tables.
pub static MIGRATIONS: gigmesh_db::Migrations = gigmesh_db::migrations!();

/// The notification service: consumes auth's, orders', payments' and users' events and
/// sends the mails they ask for.
#[derive(Clone)]
pub struct App {
    deps: ServiceDeps,
    mailer: Arc<dyn Mailer>,
    sender: Mailbox,
    web_app: WebApp,
    mail_token_keys: MailTokenKeys,
    order_events_max_attempts: u32,
    clock: Clock,
    message_digest_delay: Duration,
    digest_interval: Duration,
    digest_batch_size: u32,
}

#[async_trait::async_trait]
impl Service for App {
    type Config = Config;

    const DESCRIPTION: Description = Description {
        name: "notifications",
        summary: "Email and notifications.",
        grpc_services: &[],
        produces: &[],
        consumes: &[
            gigmesh_proto::auth::TOPIC,
            gigmesh_proto::orders::TOPIC,
            gigmesh_proto::payments::TOPIC,
            gigmesh_proto::users::TOPIC,
            gigmesh_proto::chat::TOPIC,
        ],
        migrations: &[&MIGRATIONS, &gigmesh_events::EVENTS_MIGRATIONS],
        default_port: 50053,
        issues_tokens: false,
        retention: &[],
    };

    /// Sets up the configured mailer.
    async fn assemble(deps: ServiceDeps, config: Config) -> anyhow::Result<App> {
        let mailer = mailer_from_config(&config)?;
        App::with_mailer(deps, &config, mailer)
    }

    /// The service's gRPC routes: none yet (health comes with `gigmesh_grpc::serve`).
    fn routes(&self) -> Routes {
        gigmesh_grpc::with_caller(crate::api::routes(), self.deps.verifier.clone())
    }

    /// The consumers of auth's events, of orders', payments' and users' events, and of
    /// chat's, and the loop that mails unread messages.
    fn background(&self) -> Vec<Box<dyn BackgroundTask>> {
        vec![
            Box::new(self.auth_events()),
            Box::new(self.order_events()),
            Box::new(self.chat_events()),
            Box::new(self.digests()),
        ]
    }

    /// Dev mode writes the `.eml` files under the data directory and keeps the mail-token
    /// key pair there.
    fn use_data_dir(config: &mut Config, data_dir: &Path) {
        config.use_data_dir(data_dir);
    }
}

impl App {
    /// Like [`Service::build`], with a mailer chosen by the caller instead of the configured
    /// one.
    pub async fn build_with_mailer(
        deps: ServiceDeps,
        config: Config,
        mailer: Arc<dyn Mailer>,
    ) -> anyhow::Result<App> {
        gigmesh_runtime::prepare(&Self::DESCRIPTION, &deps, &config).await?;
        App::with_mailer(deps, &config, mailer)
    }

    /// The service sending through `mailer`, from the configured sender, with links into the
    /// configured web app, opening mailed tokens with the configured keys.
    fn with_mailer(
        deps: ServiceDeps,
        config: &Config,
        mailer: Arc<dyn Mailer>,
    ) -> anyhow::Result<App> {
        let sender = config
            .sender()
            .with_context(|| format!("parse the sender address {:?}", config.from))?;
        let mail_token_keys = MailTokenKeys::from_config(config)?;
        Ok(App {
            deps,
            mailer,
            sender,
            web_app: WebApp::new(&config.web_app_url),
            mail_token_keys,
            order_events_max_attempts: config.order_events_max_attempts,
            clock: Clock::system(),
            message_digest_delay: Duration::from_secs(config.message_digest_delay_seconds),
            digest_interval: Duration::from_secs(config.digest_interval_seconds),
            digest_batch_size: config.digest_batch_size,
        })
    }

    /// The same service reading the time from `clock` (the unread messages' delay): tests
    /// pass a `ManualClock`'s clock to move time instead of waiting for it.
    pub fn with_clock(mut self, clock: Clock) -> App {
        self.clock = clock;
        self
    }

    /// The consumer of chat's messages and reads, not yet subscribed.
    pub fn chat_events(&self) -> ConsumerSpec {
        self.deps.consumer(
            CHAT_EVENTS_CONSUMER_NAME,
            &[gigmesh_proto::chat::TOPIC],
            Arc::new(ChatEventsHandler::new(self.message_digest_delay)),
        )
    }

    /// The consumer of chat's messages and reads, subscribed, for the caller to step with
    /// `poll_once`.
    pub async fn chat_events_consumer(&self) -> anyhow::Result<Consumer> {
        Ok(self.chat_events().subscribe().await?)
    }

    /// The loop that mails unread messages, for the caller to run or to step with
    /// `run_once`.
    pub fn digests(&self) -> DigestLoop {
        DigestLoop::new(
            self.deps.db.clone(),
            self.mailer.clone(),
            self.sender.clone(),
            self.web_app.clone(),
            self.clock.clone(),
            self.digest_batch_size,
            self.digest_interval,
        )
    }

    /// The consumer of auth's events, not yet subscribed.
    pub fn auth_events(&self) -> ConsumerSpec {
        let handler = AuthEventsHandler::new(
            self.mailer.clone(),
            self.sender.clone(),
            self.web_app.clone(),
            self.mail_token_keys.clone(),
        );
        self.deps.consumer(
            CONSUMER_NAME,
            &[gigmesh_proto::auth::TOPIC],
            Arc::new(handler),
        )
    }

    /// The consumer of auth's events, subscribed, for the caller to step with `poll_once`.
    pub async fn auth_events_consumer(&self) -> anyhow::Result<Consumer> {
        Ok(self.auth_events().subscribe().await?)
    }

    /// The consumer of orders', payments' and users' events, not yet subscribed. It tries an
    /// event `order_events_max_attempts` times, or `bus.event_max_attempts` if that is more,
    /// so an order mail can wait for its recipient's address.
    pub fn order_events(&self) -> ConsumerSpec {
        let handler = OrderEventsHandler::new(
            self.mailer.clone(),
            self.sender.clone(),
            self.web_app.clone(),
        );
        self.deps
            .consumer(
                ORDER_EVENTS_CONSUMER_NAME,
                &ORDER_EVENTS_TOPICS,
                Arc::new(handler),
            )
            .with_max_attempts(
                self.order_events_max_attempts
                    .max(self.deps.event_max_attempts),
            )
    }

    /// The consumer of orders', payments' and users' events, subscribed, for the caller to
    /// step with `poll_once`.
    pub async fn order_events_consumer(&self) -> anyhow::Result<Consumer> {
        Ok(self.order_events().subscribe().await?)
    }

    /// Every mail recorded as sent to `recipient`, oldest first.
    pub async fn sent_mail_to(&self, recipient: &str) -> anyhow::Result<Vec<SentMail>> {
        store::sent_mail_to(self.deps.db.pool(), recipient)
            .await
            .context("read sent mail")
    }
}
