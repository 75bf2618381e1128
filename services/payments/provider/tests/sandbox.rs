//! The sandbox adapter passes the provider behaviour suite on SQLite and PostgreSQL: it
//! pays with its test cards through `SandboxProvider::confirm` and delivers its signed
//! webhooks to a recording sink one step at a time (`deliver_once`), on a manual clock.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use gigmesh_payment_provider::behaviour::{self, ProviderHarness, TestCard};
use gigmesh_payment_provider::sandbox::{
    SANDBOX_MIGRATIONS, SandboxProvider, SandboxWebhookDelivery, TEST_CARD_DECLINED,
    TEST_CARD_NEEDS_AUTHENTICATION, TEST_CARD_SUCCEEDS, WebhookSink,
};
use gigmesh_payment_provider::{PaymentProvider, ProviderPayment};
use gigmesh_testing::TestDatabase;
use gigmesh_types::ManualClock;

const WEBHOOK_SECRET: &str = "whsec_sandbox_behaviour";

/// Keeps every delivered webhook, in order.
#[derive(Default)]
struct RecordingSink {
    received: Mutex<VecDeque<(Vec<u8>, String)>>,
}

#[async_trait]
impl WebhookSink for RecordingSink {
    async fn deliver(&self, payload: Vec<u8>, signature_header: String) -> Result<(), String> {
        self.received
            .lock()
            .expect("sink lock")
            .push_back((payload, signature_header));
        Ok(())
    }
}

struct SandboxHarness {
    provider: SandboxProvider,
    clock: ManualClock,
    sink: Arc<RecordingSink>,
    delivery: SandboxWebhookDelivery,
    _database: TestDatabase,
}

impl SandboxHarness {
    async fn new(database: TestDatabase) -> Self {
        database
            .db()
            .migrate(&[&SANDBOX_MIGRATIONS])
            .await
            .expect("apply the sandbox migrations");
        let clock = ManualClock::at(1_767_225_600_000);
        let provider = SandboxProvider::new(
            database.db().clone(),
            clock.clock(),
            WEBHOOK_SECRET.to_owned(),
        );
        let sink = Arc::new(RecordingSink::default());
        let delivery = provider.webhook_delivery(sink.clone());
        Self {
            provider,
            clock,
            sink,
            delivery,
            _database: database,
        }
    }

    fn recorded(&self) -> Option<(Vec<u8>, String)> {
        self.sink.received.lock().expect("sink lock").pop_front()
    }
}

#[async_trait]
impl ProviderHarness for SandboxHarness {
    fn provider(&self) -> &dyn PaymentProvider {
        &self.provider
    }

    async fn pay(&self, payment: &ProviderPayment, card: TestCard) -> anyhow::Result<()> {
        let card_number = match card {
            TestCard::Succeeds => TEST_CARD_SUCCEEDS,
            TestCard::Declined => TEST_CARD_DECLINED,
            TestCard::NeedsAuthentication => TEST_CARD_NEEDS_AUTHENTICATION,
        };
        self.provider
            .confirm(&payment.id, &payment.client_secret, card_number, false)
            .await?;
        Ok(())
    }

    async fn authenticate(&self, payment: &ProviderPayment) -> anyhow::Result<()> {
        self.provider
            .confirm(
                &payment.id,
                &payment.client_secret,
                TEST_CARD_NEEDS_AUTHENTICATION,
                true,
            )
            .await?;
        Ok(())
    }

    async fn complete_onboarding(&self, _account_id: &str) -> anyhow::Result<()> {
        // The sandbox onboards a seller at once.
        Ok(())
    }

    async fn next_webhook(&self) -> Option<(Vec<u8>, String)> {
        if let Some(recorded) = self.recorded() {
            return Some(recorded);
        }
        self.delivery
            .deliver_once()
            .await
            .expect("deliver the queued webhooks");
        self.recorded()
    }

    fn webhook_now_seconds(&self) -> i64 {
        self.clock.now_millis() / 1_000
    }
}

#[tokio::test]
async fn the_sandbox_behaves_like_a_provider_on_sqlite() {
    let harness = SandboxHarness::new(TestDatabase::sqlite().await).await;
    behaviour::run_all(&harness).await;
}

#[tokio::test]
async fn the_sandbox_behaves_like_a_provider_on_postgres() {
    let harness = SandboxHarness::new(TestDatabase::postgres().await).await;
    behaviour::run_all(&harness).await;
}
