//! Starts the payment service the way production does (same `App`, same serving stack)
//! on 127.0.0.1:0 with fresh `TestDeps`, the sandbox provider and a `ManualClock`, and
//! wraps its RPCs in one call each. Orders' events are published on the bus as orders
//! would publish them (settlements per the contract) and the consumer is stepped with
//! `drain`; the sandbox's webhooks are delivered by stepping its delivery; what the
//! service emits is read back after relaying its outbox. `assert_ledger` checks the
//! ledger's invariants and balances after every scenario.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gigmesh_auth::Role;
use gigmesh_events::{Consumer, Envelope, PollOutcome, Relay, SharedBus, decode};
use gigmesh_payment_provider::sandbox::{SandboxProvider, TEST_CARD_SUCCEEDS, WebhookSink};
use gigmesh_payments::{App, Config};
use gigmesh_proto::EventMessage;
use gigmesh_proto::orders::{
    LineItem, Order, OrderChanged, OrderState, Price, Settlement, TimelineEntry, TimelineKind,
};
use gigmesh_proto::payments::payment_service_client::PaymentServiceClient;
use gigmesh_proto::payments::{
    ConfirmSandboxPaymentRequest, ConfirmSandboxPaymentResponse, GetLedgerSummaryRequest,
    GetMyBalanceRequest, GetOrderPaymentRequest, LedgerSummary, OrderPayment,
    ReceiveProviderWebhookRequest, ReceiveProviderWebhookResponse, TOPIC as PAYMENTS_TOPIC,
};
use gigmesh_proto::types::Money;
use gigmesh_runtime::Service as _;
use gigmesh_testing::{
    Backend, EmittedEvents, TestDeps, TestServer, TestUser, publish_event, signed_in,
};
use gigmesh_types::ManualClock;
use tonic::transport::Channel;
use tonic::{Response, Status};
use uuid::Uuid;

/// How long one consumer step waits for a record.
const STEP_WAIT: Duration = Duration::from_millis(300);

/// The webhook secret the tests' sandbox signs with.
pub const WEBHOOK_SECRET: &str = "whsec_test_secret_for_payments";

/// A running payment service with its deps and a client.
pub struct TestPayments {
    pub client: PaymentServiceClient<Channel>,
    pub bus: SharedBus,
    pub clock: ManualClock,
    pub app: App,
    consumer: Consumer,
    relay: Relay,
    emitted: EmittedEvents,
    deps: TestDeps,
    admin: TestUser,
    _server: TestServer,
}

/// An order as orders would publish it.
#[derive(Debug, Clone)]
pub struct TestOrder {
    pub order: Order,
    pub version: i64,
}

/// Records webhooks instead of delivering them, to replay them in any order.
#[derive(Default)]
pub struct RecordingSink {
    pub received: Mutex<Vec<(Vec<u8>, String)>>,
}

#[async_trait]
impl WebhookSink for RecordingSink {
    async fn deliver(&self, payload: Vec<u8>, signature_header: String) -> Result<(), String> {
        self.received
            .lock()
            .expect("not poisoned")
            .push((payload, signature_header));
        Ok(())
    }
}

pub fn usd(amount_minor: i64) -> Option<Money> {
    Some(Money {
        amount_minor,
        currency: "USD".to_owned(),
    })
}

/// The buyer's service fee by the contract: 5.5 % rounded half up, plus 2.50 below 40.00.
pub fn service_fee(subtotal: i64) -> i64 {
    (subtotal * 550 + 5_000) / 10_000 + if subtotal < 4_000 { 250 } else { 0 }
}

/// The seller's commission by the contract: 20 % rounded half up.
pub fn commission(subtotal: i64) -> i64 {
    (subtotal * 2_000 + 5_000) / 10_000
}

pub fn amount(money: &Option<Money>) -> i64 {
    money.as_ref().map_or(0, |money| money.amount_minor)
}

impl TestPayments {
    /// Starts the service with the tests' settings.
    pub async fn start(backend: Backend) -> TestPayments {
        Self::start_with(backend, test_config()).await
    }

    /// Starts the service with `config`.
    pub async fn start_with(backend: Backend, config: Config) -> TestPayments {
        let deps = TestDeps::new(backend).await;
        let clock = ManualClock::starting_now();
        let app = App::build_with_clock(deps.service_deps(), config, clock.clock())
            .await
            .expect("build the payment service");
        let consumer = app.upstream_events_consumer().await.expect("consumer");
        let bus = deps.bus();
        let emitted = EmittedEvents::observe(&bus, PAYMENTS_TOPIC).await;
        let server = TestServer::start(app.routes(), app.service_names()).await;
        let client = PaymentServiceClient::new(server.channel().await);
        let admin = deps.token_for(&[Role::Buyer, Role::Admin]);
        TestPayments {
            client,
            bus,
            clock,
            relay: app.relay(),
            app,
            consumer,
            emitted,
            deps,
            admin,
            _server: server,
        }
    }

    pub fn buyer(&self) -> TestUser {
        self.deps.token_for(&[Role::Buyer])
    }

    pub fn seller(&self) -> TestUser {
        self.deps.token_for(&[Role::Buyer, Role::Seller])
    }

    pub fn admin(&self) -> TestUser {
        self.deps.token_for(&[Role::Buyer, Role::Admin])
    }

    /// The service's database, for what no RPC shows (the provider's account id).
    pub fn db(&self) -> &gigmesh_db::Db {
        self.deps.db()
    }

    pub fn sandbox(&self) -> SandboxProvider {
        self.app.sandbox_provider().expect("the sandbox is in use")
    }

    /// Relays the outbox and returns every envelope emitted since the last call.
    pub async fn emitted(&mut self) -> Vec<Envelope> {
        self.emitted.relay_and_read(&self.relay).await
    }

    /// The events of type `E` among `envelopes`.
    pub fn of_type<E: EventMessage>(envelopes: &[Envelope]) -> Vec<E> {
        envelopes
            .iter()
            .filter_map(|envelope| decode::<E>(envelope))
            .map(|event| event.expect("decodable"))
            .collect()
    }

    /// Steps the upstream consumer until nothing is left.
    pub async fn consume(&mut self) -> Vec<PollOutcome> {
        self.consumer.drain(STEP_WAIT).await.expect("poll")
    }

    /// Delivers the sandbox's queued webhooks into the service.
    pub async fn deliver_webhooks(&self) -> usize {
        self.app
            .sandbox_webhook_delivery()
            .expect("sandbox")
            .deliver_once()
            .await
            .expect("deliver")
    }

    /// One step of the money loop.
    pub async fn money_loop_step(&self) -> usize {
        self.app.money_loop_step().await.expect("money loop step")
    }

    /// Publishes an order placed by `buyer` from `seller` with a subtotal, as orders does.
    pub async fn place_order(
        &mut self,
        buyer: &TestUser,
        seller: &TestUser,
        subtotal: i64,
    ) -> TestOrder {
        let fee = service_fee(subtotal);
        let commission = commission(subtotal);
        let extra = subtotal / 4;
        let order = Order {
            id: Uuid::now_v7().to_string(),
            buyer_id: buyer.user_id.clone(),
            seller_id: seller.user_id.clone(),
            gig_id: Uuid::now_v7().to_string(),
            gig_title: "I will build your Rust backend".to_owned(),
            package_name: "Standard".to_owned(),
            line_items: vec![
                LineItem {
                    description: "Standard".to_owned(),
                    extra_id: String::new(),
                    quantity: 1,
                    unit_price: usd(subtotal - extra),
                    amount: usd(subtotal - extra),
                    extra_days: 0,
                },
                LineItem {
                    description: "Fast delivery".to_owned(),
                    extra_id: Uuid::now_v7().to_string(),
                    quantity: 1,
                    unit_price: usd(extra),
                    amount: usd(extra),
                    extra_days: 1,
                },
            ],
            price: Some(Price {
                subtotal: usd(subtotal),
                service_fee: usd(fee),
                total: usd(subtotal + fee),
                seller_commission: usd(commission),
                seller_earnings: usd(subtotal - commission),
            }),
            state: OrderState::AwaitingPayment as i32,
            version: 1,
            ..Order::default()
        };
        let placed = TestOrder { order, version: 1 };
        self.publish_change(&placed, TimelineKind::Placed, None)
            .await;
        placed
    }

    /// Publishes the next change of an order, in `state`, with a settlement if any.
    pub async fn change_order(
        &mut self,
        order: &mut TestOrder,
        change: TimelineKind,
        state: OrderState,
        settlement: Option<Settlement>,
    ) {
        order.version += 1;
        order.order.state = state as i32;
        order.order.version = order.version;
        self.publish_change(order, change, settlement).await;
    }

    async fn publish_change(
        &mut self,
        order: &TestOrder,
        change: TimelineKind,
        settlement: Option<Settlement>,
    ) {
        let event = OrderChanged {
            change: change as i32,
            order: Some(order.order.clone()),
            entry: Some(TimelineEntry {
                sequence: order.version,
                kind: change as i32,
                ..TimelineEntry::default()
            }),
            version: order.version,
            settlement,
        };
        publish_event(&self.bus, &order.order.id, &event).await;
        let outcomes = self.consume().await;
        // Every change orders publishes is applied (or skipped as applied) cleanly.
        assert!(
            outcomes.iter().all(|outcome| matches!(
                outcome,
                PollOutcome::Handled { .. } | PollOutcome::Duplicate { .. } | PollOutcome::Idle
            )),
            "{outcomes:?}"
        );
    }

    pub async fn order_payment(
        &mut self,
        user: &TestUser,
        order_id: &str,
    ) -> Result<OrderPayment, Status> {
        self.client
            .get_order_payment(signed_in(
                &user.token,
                GetOrderPaymentRequest {
                    order_id: order_id.to_owned(),
                },
            ))
            .await
            .map(Response::into_inner)
    }

    pub async fn confirm(
        &mut self,
        payment: &OrderPayment,
        card: &str,
        authenticate: bool,
    ) -> Result<ConfirmSandboxPaymentResponse, Status> {
        self.client
            .confirm_sandbox_payment(ConfirmSandboxPaymentRequest {
                payment_id: payment.payment_id.clone(),
                client_secret: payment.client_secret.clone(),
                card_number: card.to_owned(),
                authenticate,
            })
            .await
            .map(Response::into_inner)
    }

    pub async fn webhook(
        &mut self,
        payload: Vec<u8>,
        signature: String,
    ) -> Result<ReceiveProviderWebhookResponse, Status> {
        self.client
            .receive_provider_webhook(ReceiveProviderWebhookRequest { payload, signature })
            .await
            .map(Response::into_inner)
    }

    /// Pays an order with the test card that succeeds, the webhook delivered; then the
    /// order is PAID as orders would answer.
    pub async fn pay(&mut self, buyer: &TestUser, order: &mut TestOrder) -> OrderPayment {
        let payment = self
            .order_payment(buyer, &order.order.id)
            .await
            .expect("payment");
        self.confirm(&payment, TEST_CARD_SUCCEEDS, false)
            .await
            .expect("confirm");
        assert!(self.deliver_webhooks().await >= 1);
        self.change_order(order, TimelineKind::Paid, OrderState::InProgress, None)
            .await;
        payment
    }

    /// Completes a paid order with the contract's settlement.
    pub async fn complete(&mut self, order: &mut TestOrder) {
        let settlement = completion_settlement(order);
        self.change_order(
            order,
            TimelineKind::Completed,
            OrderState::Completed,
            Some(settlement),
        )
        .await;
    }

    pub async fn summary(&mut self) -> LedgerSummary {
        let token = self.admin.token.clone();
        self.client
            .get_ledger_summary(signed_in(&token, GetLedgerSummaryRequest {}))
            .await
            .expect("summary")
            .into_inner()
    }

    /// Asserts the ledger balances (every invariant holds) and that each kind's posted
    /// USD balance is as `expected` (kinds not named hold nothing).
    pub async fn assert_ledger(&mut self, expected: &[(&str, i64)]) {
        let summary = self.summary().await;
        assert!(summary.balanced, "violations: {:?}", summary.violations);
        assert!(summary.violations.is_empty());
        for kind in [
            "clearing",
            "escrow",
            "seller_pending",
            "seller_available",
            "platform_fees",
            "refunds",
            "payouts",
        ] {
            let posted = summary
                .balances
                .iter()
                .filter(|balance| balance.account_kind == kind)
                .map(|balance| amount(&balance.posted))
                .sum::<i64>();
            let want = expected
                .iter()
                .find(|(name, _)| *name == kind)
                .map_or(0, |(_, value)| *value);
            assert_eq!(posted, want, "{kind} in {:?}", summary.balances);
        }
    }

    pub async fn balance(
        &mut self,
        seller: &TestUser,
    ) -> Result<gigmesh_proto::payments::GetMyBalanceResponse, Status> {
        self.client
            .get_my_balance(signed_in(&seller.token, GetMyBalanceRequest {}))
            .await
            .map(Response::into_inner)
    }
}

/// The settlement of a completed order: fees to the platform, earnings to the seller.
pub fn completion_settlement(order: &TestOrder) -> Settlement {
    let price = order.order.price.clone().expect("price");
    let subtotal = amount(&price.subtotal);
    let fee = amount(&price.service_fee);
    let commission = commission(subtotal);
    Settlement {
        refund: usd(0),
        platform_fee: usd(fee + commission),
        seller_earnings: usd(subtotal - commission),
    }
}

/// The settlement of a cancelled (or refunded) paid order: everything back.
pub fn refund_settlement(order: &TestOrder) -> Settlement {
    let total = amount(&order.order.price.clone().expect("price").total);
    Settlement {
        refund: usd(total),
        platform_fee: usd(0),
        seller_earnings: usd(0),
    }
}

/// The settlement of a dispute split with `refund` of the subtotal back to the buyer.
pub fn split_settlement(order: &TestOrder, refund: i64) -> Settlement {
    let price = order.order.price.clone().expect("price");
    let gross = amount(&price.subtotal) - refund;
    let commission = commission(gross);
    Settlement {
        refund: usd(refund),
        platform_fee: usd(amount(&price.service_fee) + commission),
        seller_earnings: usd(gross - commission),
    }
}

/// The tests' settings: the sandbox with a known secret.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.sandbox.webhook_secret = gigmesh_config::Secret::new(WEBHOOK_SECRET.to_owned());
    config
}

/// A recording delivery of the sandbox's webhooks.
pub fn recording(
    payments: &TestPayments,
) -> (
    Arc<RecordingSink>,
    gigmesh_payment_provider::sandbox::SandboxWebhookDelivery,
) {
    let sink = Arc::new(RecordingSink::default());
    let delivery = payments.sandbox().webhook_delivery(sink.clone());
    (sink, delivery)
}
