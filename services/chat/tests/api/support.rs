//! Starts the chat service the way production does (same `App`, same serving stack) on
//! 127.0.0.1:0 with fresh `TestDeps` and a `ManualClock`, and wraps its RPCs in one call
//! each. Gigs and orders arrive as the gig and order services' events on the bus; the
//! consumer is stepped with `consume`, the timer loop with `run_timers`, and what the
//! service emits is read back after relaying its outbox.

#![allow(dead_code)]

use std::time::Duration;

use gigmesh_auth::Role;
use gigmesh_chat::{App, Config, TimerLoop, TimerRun};
use gigmesh_events::{Consumer, Envelope, Relay, SharedBus};
use gigmesh_proto::chat::chat_service_client::ChatServiceClient;
use gigmesh_proto::chat::{
    AcceptCustomOfferRequest, Attachment, ChatEvent, Conversation, CustomOffer,
    DeclineCustomOfferRequest, GetConversationRequest, ListConversationsRequest,
    ListConversationsResponse, ListMessagesRequest, ListMessagesResponse,
    MarkConversationReadRequest, Message, SendCustomOfferRequest, SendMessageRequest,
    StartConversationRequest, StreamEventsRequest, WithdrawCustomOfferRequest,
};
use gigmesh_proto::gigs::{Gig, GigChange, GigChanged, GigState, ModerationState, Package};
use gigmesh_proto::types::Money;
use gigmesh_runtime::{Service as _, ServiceDeps};
use gigmesh_testing::{Backend, EmittedEvents, TestDeps, TestServer, TestUser, signed_in};
use gigmesh_types::ManualClock;
use tonic::transport::Channel;
use tonic::{Status, Streaming};
use uuid::Uuid;

/// How long one consumer step waits for a record.
const STEP_WAIT: Duration = Duration::from_millis(300);

/// How long a test waits for a stream's next event.
pub const STREAM_WAIT: Duration = Duration::from_secs(10);

/// A running chat service with its deps, its clock and a client.
pub struct TestChat {
    pub client: ChatServiceClient<Channel>,
    pub bus: SharedBus,
    pub clock: ManualClock,
    pub service_deps: ServiceDeps,
    consumer: Consumer,
    relay: Relay,
    timers: TimerLoop,
    app: App,
    emitted: EmittedEvents,
    deps: TestDeps,
    server: Option<TestServer>,
}

impl TestChat {
    /// Starts the service with its default settings.
    pub async fn start(backend: Backend) -> TestChat {
        Self::start_with(backend, Config::default()).await
    }

    /// Starts the service with `config`.
    pub async fn start_with(backend: Backend, config: Config) -> TestChat {
        let deps = TestDeps::new(backend).await;
        let clock = ManualClock::starting_now();
        let service_deps = deps.service_deps();
        let app = App::build_with_clock(service_deps.clone(), config, clock.clock())
            .await
            .expect("build the chat service");
        let consumer = app.upstream_events_consumer().await.expect("consumer");
        let bus = deps.bus();
        let emitted = EmittedEvents::observe(&bus, gigmesh_proto::chat::TOPIC).await;
        let server = TestServer::start(app.routes(), app.service_names()).await;
        let client = ChatServiceClient::new(server.channel().await);
        TestChat {
            client,
            bus,
            clock,
            service_deps,
            consumer,
            relay: app.relay(),
            timers: app.timers(),
            app,
            emitted,
            deps,
            server: Some(server),
        }
    }

    /// The app (its hub, its loops).
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Stops the server as a shutdown would: every stream ends.
    pub async fn shut_down(&mut self) {
        self.app.hub().close_all();
        if let Some(server) = self.server.take() {
            server.stop().await;
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

    /// Steps the consumer of the gig and order events until nothing is left.
    pub async fn consume(&mut self) {
        self.consumer.drain(STEP_WAIT).await.expect("poll");
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

    /// A published gig of `seller` priced in USD, known to the service.
    pub async fn gig_of(&mut self, seller: &TestUser) -> Gig {
        let gig = gig(&seller.user_id);
        self.publish_gig(&gig, 2).await;
        gig
    }

    /// `buyer`'s inquiry about a new published gig of `seller`.
    pub async fn inquiry(&mut self, buyer: &TestUser, seller: &TestUser) -> (Gig, Conversation) {
        let gig = self.gig_of(seller).await;
        let conversation = self
            .open(buyer, "", &gig.id)
            .await
            .expect("start a conversation");
        (gig, conversation)
    }

    /// Moves the clock and runs the timer loop once.
    pub async fn advance_and_run_timers(&mut self, seconds: i64) -> TimerRun {
        self.clock.advance_seconds(seconds);
        self.timers.run_once().await.expect("timers")
    }

    /// Relays the outbox and returns every chat event since the last call.
    pub async fn emitted(&mut self) -> Vec<Envelope> {
        self.emitted.relay_and_read(&self.relay).await
    }

    /// Relays the outbox and returns every `E` since the last call.
    pub async fn emitted_of<E: gigmesh_proto::EventMessage>(&mut self) -> Vec<E> {
        self.emitted
            .relay_and_decode::<E>(&self.relay)
            .await
            .into_iter()
            .map(|(_, event)| event)
            .collect()
    }

    pub async fn open(
        &mut self,
        user: &TestUser,
        seller_id: &str,
        gig_id: &str,
    ) -> Result<Conversation, Status> {
        let request = StartConversationRequest {
            seller_id: seller_id.to_owned(),
            gig_id: gig_id.to_owned(),
        };
        Ok(self
            .client
            .start_conversation(signed_in(&user.token, request))
            .await?
            .into_inner())
    }

    pub async fn get(
        &mut self,
        user: &TestUser,
        conversation_id: &str,
    ) -> Result<Conversation, Status> {
        let request = GetConversationRequest {
            conversation_id: conversation_id.to_owned(),
        };
        Ok(self
            .client
            .get_conversation(signed_in(&user.token, request))
            .await?
            .into_inner())
    }

    pub async fn list(
        &mut self,
        user: &TestUser,
        page_size: i32,
        page_token: &str,
    ) -> Result<ListConversationsResponse, Status> {
        let request = ListConversationsRequest {
            page_size,
            page_token: page_token.to_owned(),
        };
        Ok(self
            .client
            .list_conversations(signed_in(&user.token, request))
            .await?
            .into_inner())
    }

    pub async fn send(
        &mut self,
        user: &TestUser,
        conversation_id: &str,
        text: &str,
    ) -> Result<Message, Status> {
        self.send_with(user, conversation_id, text, Vec::new(), &new_request_id())
            .await
    }

    pub async fn send_with(
        &mut self,
        user: &TestUser,
        conversation_id: &str,
        text: &str,
        attachments: Vec<Attachment>,
        request_id: &str,
    ) -> Result<Message, Status> {
        let request = SendMessageRequest {
            conversation_id: conversation_id.to_owned(),
            text: text.to_owned(),
            attachments,
            request_id: request_id.to_owned(),
        };
        Ok(self
            .client
            .send_message(signed_in(&user.token, request))
            .await?
            .into_inner())
    }

    pub async fn messages(
        &mut self,
        user: &TestUser,
        conversation_id: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<ListMessagesResponse, Status> {
        let request = ListMessagesRequest {
            conversation_id: conversation_id.to_owned(),
            page_size,
            page_token: page_token.to_owned(),
        };
        Ok(self
            .client
            .list_messages(signed_in(&user.token, request))
            .await?
            .into_inner())
    }

    pub async fn mark_read(
        &mut self,
        user: &TestUser,
        conversation_id: &str,
        message_id: &str,
    ) -> Result<Conversation, Status> {
        let request = MarkConversationReadRequest {
            conversation_id: conversation_id.to_owned(),
            message_id: message_id.to_owned(),
        };
        Ok(self
            .client
            .mark_conversation_read(signed_in(&user.token, request))
            .await?
            .into_inner())
    }

    pub async fn offer(
        &mut self,
        user: &TestUser,
        conversation_id: &str,
        gig_id: &str,
        price_minor: i64,
        expire_after_hours: i32,
    ) -> Result<Message, Status> {
        let request = SendCustomOfferRequest {
            conversation_id: conversation_id.to_owned(),
            gig_id: gig_id.to_owned(),
            description: "A logo in three styles, with the source files".to_owned(),
            price: Some(usd(price_minor)),
            delivery_days: 4,
            revisions: 2,
            expire_after_hours,
            request_id: new_request_id(),
        };
        Ok(self
            .client
            .send_custom_offer(signed_in(&user.token, request))
            .await?
            .into_inner())
    }

    pub async fn accept(&mut self, user: &TestUser, offer_id: &str) -> Result<CustomOffer, Status> {
        let request = AcceptCustomOfferRequest {
            offer_id: offer_id.to_owned(),
        };
        Ok(self
            .client
            .accept_custom_offer(signed_in(&user.token, request))
            .await?
            .into_inner())
    }

    pub async fn decline(
        &mut self,
        user: &TestUser,
        offer_id: &str,
    ) -> Result<CustomOffer, Status> {
        let request = DeclineCustomOfferRequest {
            offer_id: offer_id.to_owned(),
        };
        Ok(self
            .client
            .decline_custom_offer(signed_in(&user.token, request))
            .await?
            .into_inner())
    }

    pub async fn withdraw(
        &mut self,
        user: &TestUser,
        offer_id: &str,
    ) -> Result<CustomOffer, Status> {
        let request = WithdrawCustomOfferRequest {
            offer_id: offer_id.to_owned(),
        };
        Ok(self
            .client
            .withdraw_custom_offer(signed_in(&user.token, request))
            .await?
            .into_inner())
    }

    /// Opens `user`'s stream after `resume_token`.
    pub async fn stream(
        &mut self,
        user: &TestUser,
        resume_token: &str,
    ) -> Result<Streaming<ChatEvent>, Status> {
        let request = StreamEventsRequest {
            resume_token: resume_token.to_owned(),
        };
        Ok(self
            .client
            .stream_events(signed_in(&user.token, request))
            .await?
            .into_inner())
    }
}

/// The next event of `stream` that is not a heartbeat.
pub async fn next_event(stream: &mut Streaming<ChatEvent>) -> ChatEvent {
    loop {
        let event = next_any(stream).await;
        if !is_heartbeat(&event) {
            return event;
        }
    }
}

/// The next message of `stream`, heartbeats included.
pub async fn next_any(stream: &mut Streaming<ChatEvent>) -> ChatEvent {
    tokio::time::timeout(STREAM_WAIT, stream.message())
        .await
        .expect("an event in time")
        .expect("a healthy stream")
        .expect("the stream goes on")
}

/// Whether `event` is a heartbeat.
pub fn is_heartbeat(event: &ChatEvent) -> bool {
    matches!(
        event.kind,
        Some(gigmesh_proto::chat::chat_event::Kind::Heartbeat(_))
    )
}

/// A fresh request id.
pub fn new_request_id() -> String {
    Uuid::now_v7().to_string()
}

/// `amount_minor` cents.
pub fn usd(amount_minor: i64) -> Money {
    Money {
        amount_minor,
        currency: "USD".to_owned(),
    }
}

/// A published, approved gig of `seller_id` with one 50.00 package.
pub fn gig(seller_id: &str) -> Gig {
    Gig {
        id: Uuid::now_v7().to_string(),
        seller_id: seller_id.to_owned(),
        title: "I will design your logo".to_owned(),
        state: GigState::Active as i32,
        moderation_state: ModerationState::Approved as i32,
        packages: vec![Package {
            price: Some(usd(5_000)),
            delivery_days: 3,
            revisions: 1,
            ..Package::default()
        }],
        ..Gig::default()
    }
}
