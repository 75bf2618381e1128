//! Starts the order service the way production does (same `App`, same serving stack) on
//! 127.0.0.1:0 with fresh `TestDeps` and a `ManualClock`, and wraps its RPCs in one call
//! each. Gigs and payments arrive the way they do in production, as the gig and payment
//! services' events on the bus; the consumer is stepped with `consume`, the timer loop
//! with `run_timers`, and what the service emits is read back after relaying its outbox.

#![allow(dead_code)]

use std::time::Duration;

use gigmesh_auth::Role;
use gigmesh_events::{Consumer, PollOutcome, Relay, SharedBus};
use gigmesh_orders::{App, Config, TimerLoop};
use gigmesh_proto::gigs::{
    Extra, Gig, GigChange, GigChanged, GigState, ModerationState, Package, PackageTier,
    Requirement, RequirementKind,
};
use gigmesh_proto::orders::order_service_client::OrderServiceClient;
use gigmesh_proto::orders::{
    AcceptDeliveryRequest, AnswerCancellationRequest, AnswerExtensionRequest, CancelOrderRequest,
    DeliverOrderRequest, DisputeResolution, ExtraChoice, GetOrderRequest, ListMyOrdersRequest,
    OpenDisputeRequest, Order, OrderChanged, OrderState, PlaceOrderRequest,
    RequestCancellationRequest, RequestExtensionRequest, RequestRevisionRequest, RequirementAnswer,
    ResolveDisputeRequest, SubmitRequirementsRequest, TimelineKind,
};
use gigmesh_proto::payments::PaymentSucceeded;
use gigmesh_proto::types::Money;
use gigmesh_runtime::Service as _;
use gigmesh_testing::{Backend, EmittedEvents, TestDeps, TestServer, TestUser, signed_in};
use gigmesh_types::ManualClock;
use tonic::transport::Channel;
use tonic::{Response, Status};
use uuid::Uuid;

/// How long one consumer step waits for a record.
const STEP_WAIT: Duration = Duration::from_millis(300);

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// A running order service with its deps, its clock and a client.
pub struct TestOrders {
    pub client: OrderServiceClient<Channel>,
    pub bus: SharedBus,
    pub clock: ManualClock,
    consumer: Consumer,
    offers_consumer: Consumer,
    relay: Relay,
    timers: TimerLoop,
    app: App,
    emitted: EmittedEvents,
    deps: TestDeps,
    _server: TestServer,
}

impl TestOrders {
    /// Starts the service with its default settings.
    pub async fn start(backend: Backend) -> TestOrders {
        Self::start_with(backend, Config::default()).await
    }

    /// Starts the service with `config`.
    pub async fn start_with(backend: Backend, config: Config) -> TestOrders {
        let deps = TestDeps::new(backend).await;
        let clock = ManualClock::starting_now();
        let app = App::build_with_clock(deps.service_deps(), config, clock.clock())
            .await
            .expect("build the order service");
        let consumer = app.upstream_events_consumer().await.expect("consumer");
        let offers_consumer = app.custom_offers_consumer().await.expect("consumer");
        let bus = deps.bus();
        let emitted = EmittedEvents::observe(&bus, gigmesh_proto::orders::TOPIC).await;
        let server = TestServer::start(app.routes(), app.service_names()).await;
        let client = OrderServiceClient::new(server.channel().await);
        TestOrders {
            client,
            bus,
            clock,
            consumer,
            offers_consumer,
            relay: app.relay(),
            timers: app.timers(),
            app,
            emitted,
            deps,
            _server: server,
        }
    }

    /// A new buyer.
    pub fn buyer(&self) -> TestUser {
        self.deps.token_for(&[Role::Buyer])
    }

    /// A new seller (who is a buyer too).
    pub fn seller(&self) -> TestUser {
        self.deps.token_for(&[Role::Buyer, Role::Seller])
    }

    /// A new admin.
    pub fn admin(&self) -> TestUser {
        self.deps.token_for(&[Role::Buyer, Role::Admin])
    }

    /// Steps the consumer of the gig and payment events until nothing is left.
    pub async fn consume(&mut self) -> Vec<PollOutcome> {
        self.consumer.drain(STEP_WAIT).await.expect("poll")
    }

    /// Steps the consumer of chat's custom offers once.
    pub async fn consume_offer(&mut self) -> PollOutcome {
        self.offers_consumer
            .poll_once(STEP_WAIT)
            .await
            .expect("poll")
    }

    /// Steps the consumer of chat's custom offers until nothing is left.
    pub async fn consume_offers(&mut self) -> Vec<PollOutcome> {
        self.offers_consumer.drain(STEP_WAIT).await.expect("poll")
    }

    /// Publishes `gig` as the gig service would, at `version`, and consumes it.
    pub async fn publish_gig(&mut self, gig: &Gig, version: i64) {
        let event = GigChanged {
            change: GigChange::Updated as i32,
            gig: Some(gig.clone()),
            version,
        };
        gigmesh_testing::publish_event(&self.bus, &gig.id, &event).await;
        self.consume().await;
    }

    /// A published gig of `seller`, known to the service (packages basic 50.00 and
    /// standard 120.00, an extra "fast" of 20.00 adding a day, and `requirements`).
    pub async fn gig_of(&mut self, seller: &TestUser, requirements: Vec<Requirement>) -> Gig {
        let gig = gig(&seller.user_id, requirements);
        self.publish_gig(&gig, 2).await;
        gig
    }

    /// Publishes PaymentSucceeded for `order` of `amount` as payments would, and consumes
    /// it.
    pub async fn pay(
        &mut self,
        order: &Order,
        payment_id: &str,
        amount_minor: i64,
    ) -> Vec<PollOutcome> {
        let event = PaymentSucceeded {
            order_id: order.id.clone(),
            buyer_id: order.buyer_id.clone(),
            payment_id: payment_id.to_owned(),
            amount: usd(amount_minor),
            provider: "sandbox".to_owned(),
        };
        gigmesh_testing::publish_event(&self.bus, &order.id, &event).await;
        self.consume().await
    }

    /// Pays `order` in full.
    pub async fn pay_in_full(&mut self, order: &Order) {
        let total = total_of(order);
        self.pay(order, &format!("pay-{}", Uuid::now_v7()), total)
            .await;
    }

    /// Moves the clock and applies every due timer; how many applied.
    pub async fn advance_and_run_timers(&mut self, seconds: i64) -> usize {
        self.clock.advance_seconds(seconds);
        self.timers.run_once().await.expect("timers")
    }

    /// Another timer loop over the same database and clock, as a second replica runs it.
    pub fn timer_replica(&self) -> TimerLoop {
        self.app.timers()
    }

    /// The timer loop of this replica.
    pub fn timer_loop(&self) -> TimerLoop {
        self.timers.clone()
    }

    /// Relays the outbox and returns every OrderChanged since the last call.
    pub async fn emitted(&mut self) -> Vec<OrderChanged> {
        self.emitted
            .relay_and_decode::<OrderChanged>(&self.relay)
            .await
            .into_iter()
            .map(|(key, event)| {
                assert_eq!(key, event.order.as_ref().expect("order").id);
                event
            })
            .collect()
    }

    pub async fn place(
        &mut self,
        user: &TestUser,
        gig_id: &str,
        tier: PackageTier,
        extras: &[(&str, i32)],
        request_id: &str,
    ) -> Result<Order, Status> {
        let request = PlaceOrderRequest {
            gig_id: gig_id.to_owned(),
            tier: tier as i32,
            extras: extras
                .iter()
                .map(|(extra_id, quantity)| ExtraChoice {
                    extra_id: (*extra_id).to_owned(),
                    quantity: *quantity,
                })
                .collect(),
            request_id: request_id.to_owned(),
        };
        inner(
            self.client
                .place_order(signed_in(&user.token, request))
                .await,
        )
    }

    /// A basic order of `gig` by `buyer`.
    pub async fn place_basic(&mut self, buyer: &TestUser, gig: &Gig) -> Order {
        self.place(
            buyer,
            &gig.id,
            PackageTier::Basic,
            &[],
            &Uuid::now_v7().to_string(),
        )
        .await
        .expect("place")
    }

    /// A basic order of a gig without requirements, paid: in progress.
    pub async fn order_in_progress(&mut self, buyer: &TestUser, seller: &TestUser) -> Order {
        let gig = self.gig_of(seller, Vec::new()).await;
        let order = self.place_basic(buyer, &gig).await;
        self.pay_in_full(&order).await;
        self.get(buyer, &order.id).await.expect("get")
    }

    /// An order in progress, delivered.
    pub async fn delivered_order(&mut self, buyer: &TestUser, seller: &TestUser) -> Order {
        let order = self.order_in_progress(buyer, seller).await;
        self.deliver(seller, &order.id, "Here it is", &[])
            .await
            .expect("deliver")
    }

    pub async fn get(&mut self, user: &TestUser, order_id: &str) -> Result<Order, Status> {
        let request = GetOrderRequest {
            order_id: order_id.to_owned(),
        };
        inner(self.client.get_order(signed_in(&user.token, request)).await)
    }

    pub async fn list(
        &mut self,
        user: &TestUser,
        role: gigmesh_proto::orders::OrderRole,
        group: gigmesh_proto::orders::OrderGroup,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Order>, String), Status> {
        let request = ListMyOrdersRequest {
            role: role as i32,
            group: group as i32,
            page_size,
            page_token: page_token.to_owned(),
        };
        inner(
            self.client
                .list_my_orders(signed_in(&user.token, request))
                .await,
        )
        .map(|response| (response.orders, response.next_page_token))
    }

    pub async fn submit(
        &mut self,
        user: &TestUser,
        order_id: &str,
        answers: Vec<RequirementAnswer>,
    ) -> Result<Order, Status> {
        let request = SubmitRequirementsRequest {
            order_id: order_id.to_owned(),
            answers,
        };
        inner(
            self.client
                .submit_requirements(signed_in(&user.token, request))
                .await,
        )
    }

    pub async fn deliver(
        &mut self,
        user: &TestUser,
        order_id: &str,
        message: &str,
        attachment_urls: &[&str],
    ) -> Result<Order, Status> {
        let request = DeliverOrderRequest {
            order_id: order_id.to_owned(),
            message: message.to_owned(),
            attachment_urls: attachment_urls
                .iter()
                .map(|url| (*url).to_owned())
                .collect(),
        };
        inner(
            self.client
                .deliver_order(signed_in(&user.token, request))
                .await,
        )
    }

    pub async fn accept(&mut self, user: &TestUser, order_id: &str) -> Result<Order, Status> {
        let request = AcceptDeliveryRequest {
            order_id: order_id.to_owned(),
        };
        inner(
            self.client
                .accept_delivery(signed_in(&user.token, request))
                .await,
        )
    }

    pub async fn revise(
        &mut self,
        user: &TestUser,
        order_id: &str,
        message: &str,
    ) -> Result<Order, Status> {
        let request = RequestRevisionRequest {
            order_id: order_id.to_owned(),
            message: message.to_owned(),
        };
        inner(
            self.client
                .request_revision(signed_in(&user.token, request))
                .await,
        )
    }

    pub async fn ask_extension(
        &mut self,
        user: &TestUser,
        order_id: &str,
        days: i32,
        reason: &str,
    ) -> Result<Order, Status> {
        let request = RequestExtensionRequest {
            order_id: order_id.to_owned(),
            days,
            reason: reason.to_owned(),
        };
        inner(
            self.client
                .request_extension(signed_in(&user.token, request))
                .await,
        )
    }

    pub async fn answer_extension(
        &mut self,
        user: &TestUser,
        order_id: &str,
        accept: bool,
    ) -> Result<Order, Status> {
        let request = AnswerExtensionRequest {
            order_id: order_id.to_owned(),
            accept,
        };
        inner(
            self.client
                .answer_extension(signed_in(&user.token, request))
                .await,
        )
    }

    pub async fn cancel(
        &mut self,
        user: &TestUser,
        order_id: &str,
        reason: &str,
    ) -> Result<Order, Status> {
        let request = CancelOrderRequest {
            order_id: order_id.to_owned(),
            reason: reason.to_owned(),
        };
        inner(
            self.client
                .cancel_order(signed_in(&user.token, request))
                .await,
        )
    }

    pub async fn ask_cancellation(
        &mut self,
        user: &TestUser,
        order_id: &str,
        reason: &str,
    ) -> Result<Order, Status> {
        let request = RequestCancellationRequest {
            order_id: order_id.to_owned(),
            reason: reason.to_owned(),
        };
        inner(
            self.client
                .request_cancellation(signed_in(&user.token, request))
                .await,
        )
    }

    pub async fn answer_cancellation(
        &mut self,
        user: &TestUser,
        order_id: &str,
        accept: bool,
    ) -> Result<Order, Status> {
        let request = AnswerCancellationRequest {
            order_id: order_id.to_owned(),
            accept,
        };
        inner(
            self.client
                .answer_cancellation(signed_in(&user.token, request))
                .await,
        )
    }

    pub async fn dispute(
        &mut self,
        user: &TestUser,
        order_id: &str,
        reason: &str,
    ) -> Result<Order, Status> {
        let request = OpenDisputeRequest {
            order_id: order_id.to_owned(),
            reason: reason.to_owned(),
        };
        inner(
            self.client
                .open_dispute(signed_in(&user.token, request))
                .await,
        )
    }

    pub async fn resolve(
        &mut self,
        user: &TestUser,
        order_id: &str,
        resolution: DisputeResolution,
        refund_minor: Option<i64>,
    ) -> Result<Order, Status> {
        let request = ResolveDisputeRequest {
            order_id: order_id.to_owned(),
            resolution: resolution as i32,
            refund: refund_minor.and_then(usd),
            note: "Decided after reading both sides.".to_owned(),
        };
        inner(
            self.client
                .resolve_dispute(signed_in(&user.token, request))
                .await,
        )
    }
}

fn inner<T>(result: Result<Response<T>, Status>) -> Result<T, Status> {
    result.map(Response::into_inner)
}

pub fn usd(amount_minor: i64) -> Option<Money> {
    Some(Money {
        amount_minor,
        currency: "USD".to_owned(),
    })
}

/// A published, approved gig of `seller_id` with two packages and one extra.
pub fn gig(seller_id: &str, requirements: Vec<Requirement>) -> Gig {
    let package = |tier: PackageTier, name: &str, amount: i64, days: i32| Package {
        tier: tier as i32,
        name: name.to_owned(),
        description: format!("The {name} package."),
        price: usd(amount),
        delivery_days: days,
        revisions: 1,
        features: Vec::new(),
    };
    Gig {
        id: Uuid::now_v7().to_string(),
        seller_id: seller_id.to_owned(),
        title: "I will design your logo".to_owned(),
        packages: vec![
            package(PackageTier::Basic, "Starter", 5_000, 3),
            package(PackageTier::Standard, "Standard", 12_000, 5),
        ],
        extras: vec![Extra {
            id: "fast".to_owned(),
            title: "Source files".to_owned(),
            price: usd(2_000),
            extra_days: 1,
        }],
        requirements,
        state: GigState::Active as i32,
        moderation_state: ModerationState::Approved as i32,
        ..Gig::default()
    }
}

/// A required text question.
pub fn text_question(question: &str) -> Requirement {
    Requirement {
        question: question.to_owned(),
        kind: RequirementKind::Text as i32,
        options: Vec::new(),
        required: true,
    }
}

pub fn state(order: &Order) -> OrderState {
    OrderState::try_from(order.state).expect("state")
}

pub fn total_of(order: &Order) -> i64 {
    order
        .price
        .as_ref()
        .and_then(|price| price.total.as_ref())
        .expect("total")
        .amount_minor
}

pub fn kinds(events: &[OrderChanged]) -> Vec<TimelineKind> {
    events
        .iter()
        .map(|event| TimelineKind::try_from(event.change).expect("kind"))
        .collect()
}

pub fn timeline_kinds(order: &Order) -> Vec<TimelineKind> {
    order
        .timeline
        .iter()
        .map(|entry| TimelineKind::try_from(entry.kind).expect("kind"))
        .collect()
}

/// refund + platform fee + seller earnings of an event's settlement, and its parts.
pub fn settlement_parts(event: &OrderChanged) -> (i64, i64, i64) {
    let settlement = event.settlement.as_ref().expect("a settlement");
    let amount = |money: &Option<Money>| money.as_ref().expect("money").amount_minor;
    (
        amount(&settlement.refund),
        amount(&settlement.platform_fee),
        amount(&settlement.seller_earnings),
    )
}
