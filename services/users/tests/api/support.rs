//! Starts the user service the way production does (same `App`, same `serve`) on
//! 127.0.0.1:0 with fresh [`TestDeps`], publishes auth's events to it, steps its consumer and
//! its outbox relay, and calls it as clients do.

use std::time::Duration;

use gigmesh_auth::Role;
use gigmesh_events::{Consumer, Envelope, PollOutcome, Relay, decode};
use gigmesh_proto::EventMessage;
use gigmesh_proto::auth::TOPIC as AUTH_TOPIC;
use gigmesh_proto::auth::UserRegistered;
use gigmesh_proto::users::TOPIC as USERS_TOPIC;
use gigmesh_proto::users::get_public_profile_request::User as PublicProfileKey;
use gigmesh_proto::users::user_service_client::UserServiceClient;
use gigmesh_proto::users::{
    BecomeSellerRequest, Certification, Education, GetMyProfileRequest, GetPublicProfileRequest,
    PortfolioItem, Profile, PublicProfile, SellerProfile, UpdateMyProfileRequest,
};
use gigmesh_runtime::Service as _;
use gigmesh_testing::{
    Backend, EmittedEvents, TestDeps, TestServer, publish_envelope, publish_event, signed_in,
};
use gigmesh_types::{now_millis, timestamp_from_millis};
use gigmesh_users::{App, Config};
use prost_types::FieldMask;
use tonic::Status;
use tonic::transport::Channel;
use uuid::Uuid;

/// How long one consumer step waits for a record.
pub const STEP_WAIT: Duration = Duration::from_millis(300);

/// A running user service, the deps it was built from, and a client.
pub struct TestUsers {
    pub client: UserServiceClient<Channel>,
    pub deps: TestDeps,
    consumer: Consumer,
    chat_consumer: Consumer,
    relay: Relay,
    emitted: EmittedEvents,
    _server: TestServer,
}

/// A registered account as a test knows it.
pub struct Account {
    pub user_id: String,
    pub username: String,
    pub token: String,
}

impl TestUsers {
    /// Builds and serves the service on fresh deps on `backend`.
    pub async fn start(backend: Backend) -> TestUsers {
        let deps = TestDeps::new(backend).await;
        let app = App::build(deps.service_deps(), Config::default())
            .await
            .expect("build the user service");
        let consumer = app.auth_events_consumer().await.expect("consumer");
        let chat_consumer = app.chat_events_consumer().await.expect("consumer");
        let emitted = EmittedEvents::observe(&deps.bus(), USERS_TOPIC).await;
        let server = TestServer::start(app.routes(), app.service_names()).await;
        let client = UserServiceClient::new(server.channel().await);
        TestUsers {
            client,
            consumer,
            chat_consumer,
            relay: app.relay(),
            emitted,
            deps,
            _server: server,
        }
    }

    /// Publishes an auth event as auth's relay would: an envelope on `gigmesh.auth.v1`
    /// keyed by the account id.
    pub async fn publish_auth_event<E: EventMessage>(&self, user_id: &str, event: &E) -> Envelope {
        publish_event(&self.deps.bus(), user_id, event).await
    }

    /// Publishes an envelope on `gigmesh.auth.v1` again, as a redelivery.
    pub async fn publish_envelope(&self, envelope: &Envelope) {
        publish_envelope(&self.deps.bus(), AUTH_TOPIC, envelope).await;
    }

    /// Publishes a chat event as chat's relay would, keyed by `key`, and steps the consumer
    /// of chat's topic until no record is left.
    pub async fn publish_chat_event<E: EventMessage>(
        &mut self,
        key: &str,
        event: &E,
    ) -> Vec<PollOutcome> {
        publish_event(&self.deps.bus(), key, event).await;
        self.chat_consumer.drain(STEP_WAIT).await.expect("poll")
    }

    /// Steps the consumer until no record is left; returns what each step did.
    pub async fn consume_auth_events(&mut self) -> Vec<PollOutcome> {
        self.consumer.drain(STEP_WAIT).await.expect("poll")
    }

    /// Publishes the outbox and returns every envelope that reached `gigmesh.users.v1` since
    /// the last call.
    pub async fn emitted_events(&mut self) -> Vec<Envelope> {
        self.emitted.relay_and_read(&self.relay).await
    }

    /// Registers an account through auth's event and returns it with a buyer token.
    pub async fn register(&mut self, username: &str) -> Account {
        let user_id = Uuid::now_v7().to_string();
        let event = UserRegistered {
            user_id: user_id.clone(),
            email: format!("{username}@example.com"),
            username: username.to_owned(),
            create_time: Some(timestamp_from_millis(now_millis())),
        };
        self.publish_auth_event(&user_id, &event).await;
        let outcomes = self.consume_auth_events().await;
        assert!(
            matches!(outcomes.as_slice(), [PollOutcome::Handled { .. }]),
            "{outcomes:?}"
        );
        let token = self.token(&user_id, &[Role::Buyer]);
        Account {
            user_id,
            username: username.to_owned(),
            token,
        }
    }

    /// An access token for `user_id` with `roles`, signed by the key the service trusts.
    pub fn token(&self, user_id: &str, roles: &[Role]) -> String {
        self.deps.token_of(user_id, roles)
    }

    pub async fn my_profile(&mut self, account: &Account) -> Result<Profile, Status> {
        self.client
            .get_my_profile(signed_in(&account.token, GetMyProfileRequest {}))
            .await
            .map(tonic::Response::into_inner)
    }

    /// UpdateMyProfile with `profile` and a mask of `paths`.
    pub async fn update_profile(
        &mut self,
        account: &Account,
        profile: Profile,
        paths: &[&str],
    ) -> Result<Profile, Status> {
        let request = UpdateMyProfileRequest {
            profile: Some(profile),
            update_mask: Some(FieldMask {
                paths: paths.iter().map(|path| (*path).to_owned()).collect(),
            }),
        };
        self.client
            .update_my_profile(signed_in(&account.token, request))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn become_seller(
        &mut self,
        account: &Account,
        seller: SellerProfile,
    ) -> Result<Profile, Status> {
        let request = BecomeSellerRequest {
            seller: Some(seller),
        };
        self.client
            .become_seller(signed_in(&account.token, request))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn public_profile(&mut self, key: PublicProfileKey) -> Result<PublicProfile, Status> {
        self.client
            .get_public_profile(GetPublicProfileRequest { user: Some(key) })
            .await
            .map(tonic::Response::into_inner)
    }
}

/// The event in `envelope`, which must be of type `E`.
pub fn decoded<E: EventMessage>(envelope: &Envelope) -> E {
    decode::<E>(envelope)
        .unwrap_or_else(|| panic!("expected {}, got {}", E::EVENT_TYPE, envelope.event_type))
        .expect("decodable event")
}

/// The event types of `envelopes`, in order.
pub fn event_types(envelopes: &[Envelope]) -> Vec<&str> {
    envelopes
        .iter()
        .map(|envelope| envelope.event_type.as_str())
        .collect()
}

/// A seller profile that passes every check.
pub fn valid_seller() -> SellerProfile {
    SellerProfile {
        description: "I build fast, well-tested Rust backends.".to_owned(),
        skills: vec!["Rust".to_owned(), "PostgreSQL".to_owned()],
        portfolio: vec![PortfolioItem {
            title: "Payments service".to_owned(),
            description: "Double-entry ledger with escrow.".to_owned(),
            url: "https://example.com/work/payments".to_owned(),
            image_url: "https://cdn.example.com/payments.png".to_owned(),
        }],
        education: vec![Education {
            institution: "TU Berlin".to_owned(),
            degree: "MSc".to_owned(),
            field: "Computer Science".to_owned(),
            year: 2015,
        }],
        certifications: vec![Certification {
            name: "CKA".to_owned(),
            issuer: "CNCF".to_owned(),
            year: 2021,
        }],
        seller_since_time: None,
        response_time: None,
    }
}
