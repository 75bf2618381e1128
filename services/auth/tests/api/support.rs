//! Starts the auth service the way production does (same `App`, same `serve`), on
//! 127.0.0.1:0 with a fresh database and a fresh embedded event log, and drives its
//! background loops one step at a time.

use std::sync::OnceLock;
use std::time::Duration;

use gigmesh_auth::{Claims, Role, TokenVerifier};
use gigmesh_auth_service::{App, Argon2Config, Config, MailTokenPublicKeyConfig, ThrottleConfig};
use gigmesh_events::{Consumer, Envelope, PollOutcome, Relay};
use gigmesh_proto::EventMessage;
use gigmesh_proto::auth::auth_service_client::AuthServiceClient;
use gigmesh_proto::auth::{
    self as proto, EmailVerificationRequested, GetJwksRequest, Jwk, LogInRequest, LogInResponse,
    PasswordResetRequested, SignUpRequest, VerifyEmailRequest,
};
use gigmesh_runtime::Service as _;
use gigmesh_testing::{
    Backend, EmittedEvents, TestDeps, TestMailTokenKeys, TestServer, publish_envelope,
    publish_event,
};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt as _;

/// Failed log-ins of an account from one network before its attempts from there wait.
pub const FREE_FAILURES_PER_NETWORK: u32 = 3;
/// The wait after the first failure beyond the free ones, seconds: long enough that no
/// test outruns it, doubled after each further failure.
pub const FIRST_DELAY_SECONDS: u64 = 30;
/// The longest wait between attempts of an account from one network, seconds.
pub const MAX_DELAY_SECONDS: u64 = 240;
/// Failed log-ins allowed per account from all networks together in tests.
pub const ACCOUNT_CEILING: u32 = 12;
/// Failed log-ins allowed per client address in tests.
pub const ADDRESS_LIMIT: u32 = 8;
/// Wrong current passwords ChangePassword allows per account in tests.
pub const PASSWORD_CHANGE_LIMIT: u32 = 3;

/// The key pair mailed tokens are sealed to in these tests: auth gets its public half, the
/// tests open what auth sealed as notifications would.
pub fn mail_token_keys() -> &'static TestMailTokenKeys {
    static KEYS: OnceLock<TestMailTokenKeys> = OnceLock::new();
    KEYS.get_or_init(|| TestMailTokenKeys::generate("test_key"))
}

/// Opens a token auth sealed into a mail event, as notifications does.
pub fn open_mailed_token(key_id: &str, sealed: &[u8]) -> String {
    let keys = mail_token_keys();
    assert_eq!(key_id, keys.key_id, "sealed to the configured key");
    keys.open(sealed)
        .expect("a token sealed to the configured key")
}

/// Production settings, except cheap password hashing, small throttling limits and a test
/// key to seal mailed tokens to.
pub fn test_config() -> Config {
    Config {
        mail_token_public_key: MailTokenPublicKeyConfig {
            key_id: mail_token_keys().key_id.clone(),
            public_key: mail_token_keys().public_key_base64(),
            ..MailTokenPublicKeyConfig::default()
        },
        argon2: Argon2Config {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            ..Argon2Config::default()
        },
        throttle: ThrottleConfig {
            window_seconds: 900,
            max_failures_per_address: ADDRESS_LIMIT,
            free_failures_per_network: FREE_FAILURES_PER_NETWORK,
            first_delay_seconds: FIRST_DELAY_SECONDS,
            max_delay_seconds: MAX_DELAY_SECONDS,
            max_failures_per_account: ACCOUNT_CEILING,
            known_network_ttl_seconds: 30 * 24 * 60 * 60,
            max_failed_password_changes: PASSWORD_CHANGE_LIMIT,
        },
        ..Config::default()
    }
}

/// [`test_config`] with hashing slow enough that concurrent calls overlap, room for all of
/// them to hash, and no per-address limit in the way of the per-account throttles.
pub fn slow_hashing_config() -> Config {
    let base = test_config();
    Config {
        argon2: Argon2Config {
            memory_kib: 4 * 1024,
            iterations: 2,
            parallelism: 1,
            max_concurrent_hashes: 16,
            max_queued_hashes: 64,
        },
        throttle: ThrottleConfig {
            max_failures_per_address: 1_000,
            ..base.throttle.clone()
        },
        ..base
    }
}

/// A running auth service and a client for it.
pub struct TestAuth {
    pub app: App,
    pub client: AuthServiceClient<Channel>,
    deps: TestDeps,
    relay: Relay,
    consumer: Consumer,
    emitted: EmittedEvents,
    events: Vec<Envelope>,
    _server: TestServer,
}

impl TestAuth {
    /// Starts the service with [`test_config`].
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, test_config()).await
    }

    /// Starts the service with `config`.
    pub async fn start_with(backend: Backend, config: Config) -> Self {
        let deps = TestDeps::new(backend).await;
        let app = build_app(&deps, config).await;
        let server = TestServer::start(app.routes(), app.service_names()).await;
        let client = AuthServiceClient::new(server.channel().await);
        let relay = app.relay();
        let consumer = app.users_consumer().await.expect("users consumer");
        let emitted = EmittedEvents::observe(&deps.bus(), proto::TOPIC).await;
        Self {
            app,
            client,
            deps,
            relay,
            consumer,
            emitted,
            events: Vec::new(),
            _server: server,
        }
    }

    /// The service's database.
    pub fn db(&self) -> &gigmesh_db::Db {
        self.deps.db()
    }

    /// Another `App` on the same database and bus, as a restarted or second replica.
    pub async fn second_app(&self, config: Config) -> App {
        build_app(&self.deps, config).await
    }

    /// Relays the outbox and returns every event published on `gigmesh.auth.v1` so far.
    pub async fn published_events(&mut self) -> &[Envelope] {
        let new_events = self.emitted.relay_and_read(&self.relay).await;
        self.events.extend(new_events);
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

    /// The token of the newest verification mail for `email`, opened as the mailer would.
    pub async fn verification_token(&mut self, email: &str) -> String {
        let event = self
            .events_of::<EmailVerificationRequested>()
            .await
            .into_iter()
            .rev()
            .find(|event| event.email == email)
            .unwrap_or_else(|| panic!("no verification mail for {email}"));
        open_mailed_token(&event.token_key_id, &event.sealed_token)
    }

    /// The token of the newest reset mail for `email`, opened as the mailer would.
    pub async fn reset_token(&mut self, email: &str) -> String {
        let event = self
            .events_of::<PasswordResetRequested>()
            .await
            .into_iter()
            .rev()
            .find(|event| event.email == email)
            .unwrap_or_else(|| panic!("no password reset mail for {email}"));
        open_mailed_token(&event.token_key_id, &event.sealed_token)
    }

    /// Publishes an event on `gigmesh.users.v1` as the users service would, and lets the
    /// auth consumer take one step.
    pub async fn deliver_users_event<E: EventMessage>(
        &mut self,
        user_id: &str,
        event: &E,
    ) -> (Envelope, PollOutcome) {
        let envelope = publish_event(&self.deps.bus(), user_id, event).await;
        let outcome = self.consume_one().await;
        (envelope, outcome)
    }

    /// Publishes `envelope` again on `gigmesh.users.v1` and lets the consumer take a step.
    pub async fn redeliver(&mut self, envelope: &Envelope) -> PollOutcome {
        publish_envelope(&self.deps.bus(), gigmesh_proto::users::TOPIC, envelope).await;
        self.consume_one().await
    }

    async fn consume_one(&mut self) -> PollOutcome {
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
        self.client
            .log_in(log_in_request_from(login, password, address, user_agent))
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

    /// The public keys GetJwks publishes.
    pub async fn jwks(&mut self) -> Vec<Jwk> {
        self.client
            .get_jwks(GetJwksRequest {})
            .await
            .expect("jwks")
            .into_inner()
            .keys
    }

    /// Verifies an access token with the published keys.
    pub async fn claims(&mut self, access_token: &str) -> Claims {
        TokenVerifier::from_jwks(self.jwks().await)
            .verify(access_token)
            .await
            .expect("a valid access token")
    }
}

/// A LogIn request from `address` (as the gateway reports it) with `user_agent`.
pub fn log_in_request_from(
    login: &str,
    password: &str,
    address: &str,
    user_agent: &str,
) -> Request<LogInRequest> {
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
    request
}

async fn build_app(deps: &TestDeps, config: Config) -> App {
    App::build(deps.service_deps(), config)
        .await
        .expect("build the auth app")
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

/// The roles of a proto account.
pub fn roles_of(account: &proto::Account) -> Vec<proto::Role> {
    account
        .roles
        .iter()
        .map(|role| proto::Role::try_from(*role).expect("a known role"))
        .collect()
}

/// Waits for concurrent wrong guesses and counts how many were evaluated (answered
/// `evaluated_code`) and how many were throttled (`RESOURCE_EXHAUSTED` with retry info);
/// any other answer fails the test.
pub async fn evaluated_and_throttled(
    mut guesses: tokio::task::JoinSet<Result<(), Status>>,
    evaluated_code: Code,
) -> (u32, u32) {
    let (mut evaluated, mut throttled) = (0, 0);
    while let Some(outcome) = guesses.join_next().await {
        let status = outcome
            .expect("the guess task")
            .expect_err("a wrong password");
        match status.code() {
            code if code == evaluated_code => evaluated += 1,
            Code::ResourceExhausted => {
                assert!(status.get_details_retry_info().is_some(), "{status:?}");
                throttled += 1;
            }
            _ => panic!("unexpected status: {status:?}"),
        }
    }
    (evaluated, throttled)
}
