//! Starts the auth service the way production does (same `App`, same `serve`), on
//! 127.0.0.1:0 with a fresh database and a fresh embedded event log, and drives its
//! background loops one step at a time.

use std::time::Duration;

use gigmesh_auth::{Claims, Role, TokenVerifier};
use gigmesh_auth_service::{App, Argon2Config, Config, ThrottleConfig};
use gigmesh_events::{
    Consumer, Envelope, OutgoingRecord, PollOutcome, Relay, SharedBus, Subscription,
};
use gigmesh_proto::EventMessage;
use gigmesh_proto::auth::TOPIC as AUTH_TOPIC;
use gigmesh_proto::auth::auth_service_client::AuthServiceClient;
use gigmesh_proto::auth::{
    self as proto, EmailVerificationRequested, GetJwksRequest, LogInRequest, LogInResponse,
    PasswordResetRequested, SignUpRequest, VerifyEmailRequest,
};
use gigmesh_proto::users::TOPIC as USERS_TOPIC;
use gigmesh_runtime::{Service as _, ServiceDeps};
use gigmesh_testing::{Backend, TestBus, TestDatabase, TestServer};
use prost::Message as _;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt as _;

/// Runs `scenario` once on SQLite and once on PostgreSQL, as two tests named after it.
macro_rules! on_both_backends {
    ($($scenario:ident),+ $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario(gigmesh_testing::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$scenario(gigmesh_testing::Backend::Postgres).await;
                }
            }
        )+
    };
}
pub(crate) use on_both_backends;

/// Failed log-ins allowed per account in tests.
pub const ACCOUNT_LIMIT: u32 = 3;
/// Failed log-ins allowed per client address in tests.
pub const ADDRESS_LIMIT: u32 = 8;

/// Production settings, except cheap password hashing and small throttling limits.
pub fn test_config() -> Config {
    Config {
        argon2: Argon2Config {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
        throttle: ThrottleConfig {
            window_secs: 900,
            max_failures_per_account: ACCOUNT_LIMIT,
            max_failures_per_address: ADDRESS_LIMIT,
        },
        ..Config::default()
    }
}

/// A running auth service and a client for it.
pub struct TestAuth {
    pub app: App,
    pub client: AuthServiceClient<Channel>,
    pub database: TestDatabase,
    bus: SharedBus,
    relay: Relay,
    consumer: Consumer,
    published: Box<dyn Subscription>,
    events: Vec<Envelope>,
    _server: TestServer,
    _bus: TestBus,
}

impl TestAuth {
    /// Starts the service with [`test_config`].
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, test_config()).await
    }

    /// Starts the service with `config`.
    pub async fn start_with(backend: Backend, config: Config) -> Self {
        let database = TestDatabase::new(backend).await;
        let test_bus = TestBus::embedded().await;
        let bus = test_bus.bus();
        let app = build_app(&database, &bus, config).await;
        let server = TestServer::start(app.routes(), app.service_names()).await;
        let client = AuthServiceClient::new(server.channel().await);
        let relay = app.relay();
        let consumer = app.users_consumer().await.expect("users consumer");
        let published = bus
            .subscribe("auth-tests", &[AUTH_TOPIC])
            .await
            .expect("subscribe to the auth topic");
        Self {
            app,
            client,
            database,
            bus,
            relay,
            consumer,
            published,
            events: Vec::new(),
            _server: server,
            _bus: test_bus,
        }
    }

    /// Another `App` on the same database and bus, as a restarted or second replica.
    pub async fn second_app(&self, config: Config) -> App {
        build_app(&self.database, &self.bus, config).await
    }

    /// Relays the outbox and returns every event published on `gigmesh.auth.v1` so far.
    pub async fn published_events(&mut self) -> &[Envelope] {
        while self.relay.run_once().await.expect("relay the outbox") > 0 {}
        while let Some(record) = self
            .published
            .next(Duration::ZERO)
            .await
            .expect("read the auth topic")
        {
            self.published.commit(&record).await.expect("commit");
            let envelope = Envelope::decode(record.payload.as_slice()).expect("an envelope");
            assert_eq!(
                record.key, envelope.aggregate_id,
                "record key is the account id"
            );
            self.events.push(envelope);
        }
        &self.events
    }

    /// Every published event of type `E`, oldest first.
    pub async fn events_of<E: EventMessage>(&mut self) -> Vec<E> {
        self.published_events()
            .await
            .iter()
            .filter_map(|envelope| gigmesh_events::decode::<E>(envelope))
            .map(|decoded| decoded.expect("decodable event"))
            .collect()
    }

    /// The token of the newest verification mail for `email`.
    pub async fn verification_token(&mut self, email: &str) -> String {
        self.events_of::<EmailVerificationRequested>()
            .await
            .into_iter()
            .rev()
            .find(|event| event.email == email)
            .unwrap_or_else(|| panic!("no verification mail for {email}"))
            .token
    }

    /// The token of the newest reset mail for `email`.
    pub async fn reset_token(&mut self, email: &str) -> String {
        self.events_of::<PasswordResetRequested>()
            .await
            .into_iter()
            .rev()
            .find(|event| event.email == email)
            .unwrap_or_else(|| panic!("no password reset mail for {email}"))
            .token
    }

    /// Publishes an event on `gigmesh.users.v1` as the users service would, and lets the
    /// auth consumer take one step.
    pub async fn deliver_users_event<E: EventMessage>(
        &mut self,
        user_id: &str,
        event: &E,
    ) -> (Envelope, PollOutcome) {
        let envelope = Envelope {
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type: E::EVENT_TYPE.to_owned(),
            aggregate_id: user_id.to_owned(),
            occur_time: None,
            producer: "users".to_owned(),
            trace_context: Default::default(),
            payload: event.encode_to_vec(),
        };
        let outcome = self.redeliver(&envelope).await;
        (envelope, outcome)
    }

    /// Publishes `envelope` (again) on `gigmesh.users.v1` and lets the consumer take a step.
    pub async fn redeliver(&mut self, envelope: &Envelope) -> PollOutcome {
        self.bus
            .publish(OutgoingRecord {
                topic: USERS_TOPIC.to_owned(),
                key: envelope.aggregate_id.clone(),
                payload: envelope.encode_to_vec(),
                headers: Vec::new(),
            })
            .await
            .expect("publish on the users topic");
        self.consumer
            .poll_once(Duration::from_secs(5))
            .await
            .expect("consumer step")
    }

    /// Signs up and returns the new account.
    pub async fn sign_up(&mut self, email: &str, username: &str, password: &str) -> proto::Account {
        self.client
            .sign_up(SignUpRequest {
                email: email.to_owned(),
                username: username.to_owned(),
                password: password.to_owned(),
            })
            .await
            .expect("sign up")
            .into_inner()
            .account
            .expect("an account")
    }

    /// Signs up and verifies the address with the mailed token.
    pub async fn sign_up_verified(
        &mut self,
        email: &str,
        username: &str,
        password: &str,
    ) -> proto::Account {
        self.sign_up(email, username, password).await;
        let token = self.verification_token(email).await;
        self.client
            .verify_email(VerifyEmailRequest { token })
            .await
            .expect("verify email")
            .into_inner()
            .account
            .expect("an account")
    }

    /// Logs in; the raw answer.
    pub async fn try_log_in(
        &mut self,
        login: &str,
        password: &str,
    ) -> Result<LogInResponse, Status> {
        self.client
            .log_in(LogInRequest {
                login: login.to_owned(),
                password: password.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Logs in from `address` (as the gateway reports it) with `user_agent`.
    pub async fn try_log_in_from(
        &mut self,
        login: &str,
        password: &str,
        address: &str,
        user_agent: &str,
    ) -> Result<LogInResponse, Status> {
        let mut request = Request::new(LogInRequest {
            login: login.to_owned(),
            password: password.to_owned(),
        });
        request
            .metadata_mut()
            .insert("x-forwarded-for", address.parse().expect("header value"));
        request
            .metadata_mut()
            .insert("user-agent", user_agent.parse().expect("header value"));
        self.client
            .log_in(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Logs in and returns the tokens.
    pub async fn log_in(&mut self, login: &str, password: &str) -> proto::Tokens {
        self.try_log_in(login, password)
            .await
            .expect("log in")
            .tokens
            .expect("tokens")
    }

    /// Seeds a verified admin account and logs it in.
    pub async fn admin_tokens(&mut self) -> proto::Tokens {
        self.app
            .seed_account(
                "root@gigmesh.test",
                "root",
                "admin-password-1",
                &[Role::Admin],
                true,
            )
            .await
            .expect("seed the admin");
        self.log_in("root", "admin-password-1").await
    }

    /// Verifies an access token with the published keys.
    pub async fn claims(&mut self, access_token: &str) -> Claims {
        let keys = self
            .client
            .get_jwks(GetJwksRequest {})
            .await
            .expect("jwks")
            .into_inner()
            .keys;
        TokenVerifier::from_jwks(keys)
            .verify(access_token)
            .await
            .expect("a valid access token")
    }
}

async fn build_app(database: &TestDatabase, bus: &SharedBus, config: Config) -> App {
    let deps = ServiceDeps::new(
        database.db().clone(),
        bus.clone(),
        TokenVerifier::from_jwks(Vec::new()),
    );
    App::build(deps, config).await.expect("build the auth app")
}

/// `message` with `access_token` as its bearer token.
pub fn signed_in<T>(message: T, access_token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {access_token}")
            .parse()
            .expect("header value"),
    );
    request
}

/// Asserts the code of a failed call and returns its status.
#[track_caller]
pub fn expect_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> Status {
    match result {
        Ok(value) => panic!("expected {code:?}, got {value:?}"),
        Err(status) => {
            assert_eq!(status.code(), code, "unexpected status: {status:?}");
            status
        }
    }
}

/// The fields named by the `BadRequest` details of an `INVALID_ARGUMENT` status.
pub fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let bad_request = details.bad_request().expect("BadRequest details");
    bad_request
        .field_violations
        .iter()
        .map(|violation| violation.field.clone())
        .collect()
}

/// The roles of a proto account.
pub fn roles_of(account: &proto::Account) -> Vec<proto::Role> {
    account
        .roles
        .iter()
        .map(|role| proto::Role::try_from(*role).expect("a known role"))
        .collect()
}
