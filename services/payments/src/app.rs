//! Assembly of the payment service: its description, its provider (the embedded sandbox or
//! Stripe), its routes and its background loops (outbox relay, upstream consumer, the
//! sandbox's webhook delivery, the money loop, revocations).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gigmesh_events::{BackgroundTask, Consumer, ConsumerSpec, Relay};
use gigmesh_payment_provider::PaymentProvider;
use gigmesh_payment_provider::sandbox::{SandboxProvider, SandboxWebhookDelivery, WebhookSink};
use gigmesh_payment_provider::stripe::{StripeProvider, StripeSettings};
use gigmesh_proto::payments::payment_service_server::{PaymentServiceServer, SERVICE_NAME};
use gigmesh_runtime::retention::RetentionRule;
use gigmesh_runtime::{Description, Service, ServiceDeps};
use gigmesh_types::Clock;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::api::PaymentApi;
use crate::config::{Config, ProviderKind};
use crate::events::{CONSUMER_NAME, UpstreamEventsHandler};
use crate::use_cases::Payments;

/// Migrations of the service's own tables.
pub static MIGRATIONS: gigmesh_db::Migrations = gigmesh_db::migrations!();

/// Tables that grow with use and what in them is past its use. The money's own records
/// (payments, refunds, the ledger, invoices, the audit log) are never deleted.
pub const RETENTION: &[RetentionRule] = &[
    // A provider resends an event for at most three days (Stripe); a month is far beyond.
    RetentionRule {
        name: "webhook_events",
        table: "webhook_events",
        expired: "receive_time < $1",
        default_horizon_hours: 30 * 24,
    },
    // The sandbox keeps delivered events a month, as Stripe keeps its events.
    RetentionRule {
        name: "sandbox_webhook_events",
        table: "sandbox_webhook_events",
        expired: "delivered = TRUE AND create_time < $1",
        default_horizon_hours: 30 * 24,
    },
];

/// The payment service, built from its ports.
#[derive(Clone)]
pub struct App {
    deps: ServiceDeps,
    config: Arc<Config>,
    payments: Payments,
    sandbox: Option<SandboxProvider>,
}

#[async_trait]
impl Service for App {
    type Config = Config;

    const DESCRIPTION: Description = Description {
        name: "payments",
        summary: "Payments through a provider, the escrow ledger, sellers' balances and \
                  withdrawals, invoices.",
        grpc_services: &[SERVICE_NAME],
        produces: &[gigmesh_proto::payments::TOPIC],
        consumes: &[
            gigmesh_proto::orders::TOPIC,
            gigmesh_proto::auth::TOPIC,
            gigmesh_proto::users::TOPIC,
        ],
        migrations: &[
            &MIGRATIONS,
            &gigmesh_payment_provider::sandbox::SANDBOX_MIGRATIONS,
            &gigmesh_events::EVENTS_MIGRATIONS,
            &gigmesh_runtime::REVOCATION_MIGRATIONS,
        ],
        default_port: 50057,
        issues_tokens: false,
        retention: RETENTION,
    };

    async fn assemble(deps: ServiceDeps, config: Config) -> anyhow::Result<App> {
        Self::assemble_with_clock(deps, config, Clock::system())
    }

    /// `gigmesh.payments.v1.PaymentService`, behind the caller layer.
    fn routes(&self) -> Routes {
        let api = PaymentApi::new(self.payments.clone());
        gigmesh_grpc::with_caller(
            Routes::new(PaymentServiceServer::new(api)),
            self.deps.verifier.clone(),
        )
    }

    /// The relay, the upstream consumer, the sandbox's webhook delivery (sandbox only),
    /// the money loop and the revocation tasks.
    fn background(&self) -> Vec<Box<dyn BackgroundTask>> {
        let mut tasks: Vec<Box<dyn BackgroundTask>> =
            vec![Box::new(self.relay()), Box::new(self.upstream_events())];
        if let Some(delivery) = self.sandbox_webhook_delivery() {
            tasks.push(Box::new(delivery));
        }
        tasks.push(Box::new(MoneyLoop {
            payments: self.payments.clone(),
            interval: Duration::from_secs(self.config.loop_interval_seconds.max(1)),
        }));
        tasks.extend(self.deps.revocation_tasks(Self::DESCRIPTION.name));
        tasks
    }
}

impl App {
    /// Builds the service as [`Service::build`] does (checks the settings, migrates),
    /// reading `clock` instead of the system's.
    pub async fn build_with_clock(
        deps: ServiceDeps,
        config: Config,
        clock: Clock,
    ) -> anyhow::Result<App> {
        gigmesh_runtime::prepare(&Self::DESCRIPTION, &deps, &config).await?;
        Self::assemble_with_clock(deps, config, clock)
    }

    fn assemble_with_clock(deps: ServiceDeps, config: Config, clock: Clock) -> anyhow::Result<App> {
        crate::metrics::describe_metrics();
        let (provider, sandbox): (Arc<dyn PaymentProvider>, Option<SandboxProvider>) =
            match config.provider {
                ProviderKind::Sandbox => {
                    let sandbox = SandboxProvider::new(
                        deps.db.clone(),
                        clock.clone(),
                        config.sandbox.webhook_secret.expose().clone(),
                    );
                    (Arc::new(sandbox.clone()), Some(sandbox))
                }
                ProviderKind::Stripe => {
                    let stripe = StripeProvider::new(StripeSettings {
                        api_key: config.stripe.api_key.expose().clone(),
                        webhook_secret: config.stripe.webhook_secret.expose().clone(),
                        api_base_url: config.stripe.api_base_url.clone(),
                    })?;
                    (Arc::new(stripe), None)
                }
            };
        let config = Arc::new(config);
        let payments = Payments::new(
            deps.db.clone(),
            provider,
            sandbox.clone(),
            clock,
            config.clone(),
        );
        Ok(App {
            deps,
            config,
            payments,
            sandbox,
        })
    }

    /// The consumer of the orders, auth and users events, not yet subscribed.
    pub fn upstream_events(&self) -> ConsumerSpec {
        self.deps.consumer(
            CONSUMER_NAME,
            &[
                gigmesh_proto::orders::TOPIC,
                gigmesh_proto::auth::TOPIC,
                gigmesh_proto::users::TOPIC,
            ],
            Arc::new(UpstreamEventsHandler::new(self.payments.clone())),
        )
    }

    /// The upstream consumer, subscribed, for the caller to step with `poll_once`.
    pub async fn upstream_events_consumer(&self) -> anyhow::Result<Consumer> {
        Ok(self.upstream_events().subscribe().await?)
    }

    /// The relay that publishes this service's outbox.
    pub fn relay(&self) -> Relay {
        self.deps.relay(Self::DESCRIPTION.name)
    }

    /// The sandbox provider, when it is the one in use.
    pub fn sandbox_provider(&self) -> Option<SandboxProvider> {
        self.sandbox.clone()
    }

    /// The sandbox's webhook delivery into this service's own webhook handling (the same
    /// verify-then-apply path as ReceiveProviderWebhook), when the sandbox is in use.
    pub fn sandbox_webhook_delivery(&self) -> Option<SandboxWebhookDelivery> {
        self.sandbox.as_ref().map(|sandbox| {
            sandbox.webhook_delivery(Arc::new(InProcessSink {
                payments: self.payments.clone(),
            }))
        })
    }

    /// One step of the money loop at the clock's now (clearances, refunds,
    /// cancellations, retried withdrawals); answers how many things it did.
    pub async fn money_loop_step(&self) -> anyhow::Result<usize> {
        Ok(self.payments.money_loop_step().await?)
    }
}

/// Delivers the sandbox's webhooks to the service's own webhook handling.
struct InProcessSink {
    payments: Payments,
}

#[async_trait]
impl WebhookSink for InProcessSink {
    async fn deliver(&self, payload: Vec<u8>, signature_header: String) -> Result<(), String> {
        self.payments
            .receive_webhook(&payload, &signature_header)
            .await
            .map(|_| ())
            .map_err(|error| error.to_string())
    }
}

/// The money loop: clearances, refunds, cancellations and retried withdrawals, every
/// `interval`. Each step claims its work, so replicas may run it side by side.
struct MoneyLoop {
    payments: Payments,
    interval: Duration,
}

#[async_trait]
impl BackgroundTask for MoneyLoop {
    fn name(&self) -> &str {
        "payments.money-loop"
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.payments.money_loop_step().await {
                tracing::warn!(error = %error, "money loop step failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }
}
