//! What a service under test is built from: a fresh database, a fresh event log, and a key
//! that signs access tokens the service accepts.

use gigmesh_auth::{ACCESS_TOKEN_LIFETIME, Claims, Role, SigningKey, TokenSigner, TokenVerifier};
use gigmesh_db::{Backend, Db};
use gigmesh_events::SharedBus;
use gigmesh_runtime::ServiceDeps;
use uuid::Uuid;

use crate::db::TestDatabase;
use crate::server::TestBus;

/// A fresh database on one backend, a fresh embedded event log, and a signing key whose
/// public half the service's verifier trusts; removed on drop.
pub struct TestDeps {
    database: TestDatabase,
    bus: TestBus,
    signer: TokenSigner,
    verifier: TokenVerifier,
    event_max_attempts: Option<u32>,
}

/// A signed-in user as a test knows them: the ids and the access token that proves them.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// The user id (the token's subject).
    pub user_id: String,
    /// The session id of the token.
    pub session_id: String,
    /// The bearer token, for [`signed_in`](crate::signed_in).
    pub token: String,
}

impl TestDeps {
    /// Fresh deps on `backend`.
    pub async fn new(backend: Backend) -> Self {
        let signing_key = SigningKey::generate();
        Self {
            database: TestDatabase::new(backend).await,
            bus: TestBus::embedded().await,
            signer: TokenSigner::new(&signing_key).expect("a token signer"),
            verifier: TokenVerifier::from_jwks([signing_key.public_jwk()]),
            event_max_attempts: None,
        }
    }

    /// The same deps with consumers trying each event `attempts` times.
    pub fn with_event_max_attempts(mut self, attempts: u32) -> Self {
        self.event_max_attempts = Some(attempts);
        self
    }

    /// What the service is built from (clones share the database and the log).
    pub fn service_deps(&self) -> ServiceDeps {
        let deps = ServiceDeps::new(
            self.database.db().clone(),
            self.bus.bus(),
            self.verifier.clone(),
        );
        match self.event_max_attempts {
            Some(attempts) => deps.with_event_max_attempts(attempts),
            None => deps,
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        self.database.db()
    }

    /// The test database itself (its backend and URL).
    pub fn database(&self) -> &TestDatabase {
        &self.database
    }

    /// The event log.
    pub fn bus(&self) -> SharedBus {
        self.bus.bus()
    }

    /// The verifier the service is built with.
    pub fn verifier(&self) -> TokenVerifier {
        self.verifier.clone()
    }

    /// A new user with `roles` and an access token for them.
    pub fn token_for(&self, roles: &[Role]) -> TestUser {
        let user_id = Uuid::now_v7().to_string();
        let session_id = Uuid::now_v7().to_string();
        let claims = Claims::new(
            user_id.clone(),
            session_id.clone(),
            roles,
            ACCESS_TOKEN_LIFETIME,
        );
        TestUser {
            token: self.signer.sign(&claims).expect("sign an access token"),
            user_id,
            session_id,
        }
    }

    /// An access token for `user_id` in the session `session_id`, with `roles`.
    pub fn token_in_session(&self, user_id: &str, session_id: &str, roles: &[Role]) -> String {
        let claims = Claims::new(
            user_id.to_owned(),
            session_id.to_owned(),
            roles,
            ACCESS_TOKEN_LIFETIME,
        );
        self.signer.sign(&claims).expect("sign an access token")
    }

    /// An access token for `user_id` (in a new session) with `roles`.
    pub fn token_of(&self, user_id: &str, roles: &[Role]) -> String {
        let claims = Claims::new(
            user_id.to_owned(),
            Uuid::now_v7().to_string(),
            roles,
            ACCESS_TOKEN_LIFETIME,
        );
        self.signer.sign(&claims).expect("sign an access token")
    }
}
