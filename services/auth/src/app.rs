//! Building the auth service from its ports and settings: migrations, the signing key, the
//! gRPC routes and the background tasks (outbox relay, `gigmesh.users.v1` consumer).

use std::sync::Arc;

use anyhow::Context as _;
use gigmesh_auth::{JwksSource, Role, SigningKey, TokenSigner, TokenVerifier};
use gigmesh_db::{Db, Migrations};
use gigmesh_events::{BackgroundTask, Consumer, ConsumerSpec, Relay, SharedBus};
use gigmesh_grpc::ServiceDeps;
use gigmesh_proto::auth::Jwk;
use gigmesh_proto::auth::auth_service_server::{AuthServiceServer, SERVICE_NAME};
use gigmesh_types::now_millis;
use tonic::service::Routes;

use crate::api::{AuthApi, AuthCore};
pub use crate::config::Config;
use crate::credentials::PasswordHasher;
use crate::events::{AUTH_TOPIC, CONSUMER_NAME, USERS_TOPIC, UsersEventHandler};
use crate::store;

/// The auth service's own tables (accounts, sessions, keys, log-in counters).
pub static MIGRATIONS: Migrations = gigmesh_db::migrations!();

/// Applies the auth tables and the event tables (outbox, inbox, dead letters) to `db`.
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    db.migrate(&[&MIGRATIONS, &gigmesh_events::EVENTS_MIGRATIONS])
        .await
        .context("cannot migrate the auth database")
}

/// The auth service, built and ready to serve.
#[derive(Clone)]
pub struct App {
    core: Arc<AuthCore>,
    bus: SharedBus,
    verifier: TokenVerifier,
}

impl std::fmt::Debug for App {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("App")
            .field("signing_kid", &self.core.signer.kid())
            .finish_non_exhaustive()
    }
}

impl App {
    /// Validates `config`, migrates the database, loads the signing key (creating one on the
    /// first start) and prepares the password hasher.
    ///
    /// Access tokens reaching this service are verified against its own key table, so the
    /// verifier in `deps` is not needed here.
    pub async fn build(deps: ServiceDeps, config: Config) -> anyhow::Result<App> {
        config.ensure_valid()?;
        crate::api::describe_metrics();
        migrate(&deps.db).await?;
        deps.bus
            .ensure_topics(&[AUTH_TOPIC, USERS_TOPIC])
            .await
            .context("cannot create the auth event topics")?;
        let signing_key = load_or_create_signing_key(&deps.db).await?;
        let signer = TokenSigner::new(&signing_key)?;
        let hasher = PasswordHasher::new(&config.argon2).await?;
        let core = Arc::new(AuthCore {
            db: deps.db,
            config,
            hasher,
            signer,
        });
        let verifier = TokenVerifier::remote(Arc::new(StoreJwks { core: core.clone() }));
        verifier
            .refresh()
            .await
            .context("cannot load the token keys")?;
        tracing::info!(kid = core.signer.kid(), "auth service ready");
        Ok(App {
            core,
            bus: deps.bus,
            verifier,
        })
    }

    /// The `gigmesh.auth.v1.AuthService` routes, behind the caller layer that verifies
    /// access tokens.
    pub fn routes(&self) -> Routes {
        let service = AuthServiceServer::new(AuthApi::new(self.core.clone()));
        gigmesh_grpc::with_caller(Routes::new(service), self.verifier.clone())
    }

    /// Fully qualified names of the gRPC services in [`App::routes`], for health.
    pub fn service_names(&self) -> Vec<String> {
        vec![SERVICE_NAME.to_owned()]
    }

    /// The outbox relay and the `gigmesh.users.v1` consumer, to run until shutdown.
    pub fn background(&self) -> Vec<Box<dyn BackgroundTask>> {
        vec![Box::new(self.relay()), Box::new(self.users_events())]
    }

    /// The relay that publishes auth's outbox to `gigmesh.auth.v1`.
    pub fn relay(&self) -> Relay {
        Relay::new(self.core.db.clone(), self.bus.clone()).with_name("auth")
    }

    /// The consumer of `gigmesh.users.v1` (grants the seller role), not yet subscribed.
    pub fn users_events(&self) -> ConsumerSpec {
        ConsumerSpec::new(
            CONSUMER_NAME,
            self.core.db.clone(),
            self.bus.clone(),
            &[USERS_TOPIC],
            Arc::new(UsersEventHandler),
        )
    }

    /// The consumer of `gigmesh.users.v1`, subscribed, for the caller to step with
    /// `poll_once`.
    pub async fn users_consumer(&self) -> anyhow::Result<Consumer> {
        self.users_events()
            .subscribe()
            .await
            .context("cannot subscribe to gigmesh.users.v1")
    }

    /// Verifies access tokens with auth's own keys.
    pub fn verifier(&self) -> TokenVerifier {
        self.verifier.clone()
    }

    /// The public keys, read from auth's key table, for verifiers in the same process.
    pub fn jwks_source(&self) -> Arc<dyn JwksSource> {
        Arc::new(StoreJwks {
            core: self.core.clone(),
        })
    }

    /// The database the service was built with.
    pub fn db(&self) -> &Db {
        &self.core.db
    }

    /// Creates an account with `roles` (plus buyer) unless an account with the email address
    /// or username exists; for demo and bootstrap accounts. `verified` marks the address as
    /// verified without a mail.
    pub async fn seed_account(
        &self,
        email: &str,
        username: &str,
        password: &str,
        roles: &[Role],
        verified: bool,
    ) -> anyhow::Result<()> {
        self.core
            .seed_account(email, username, password, roles, verified)
            .await
            .with_context(|| format!("cannot seed the account {username}"))
    }
}

/// The key that signs new tokens: the newest unretired key, or a new one on the first start.
async fn load_or_create_signing_key(db: &Db) -> anyhow::Result<SigningKey> {
    let mut conn = db
        .pool()
        .acquire()
        .await
        .context("cannot load the signing keys")?;
    if store::unretired_signing_keys(&mut conn).await?.is_empty() {
        let key = SigningKey::generate();
        let der = key.to_pkcs8_der()?;
        store::insert_signing_key(&mut conn, key.kid(), &der, now_millis()).await?;
        tracing::info!(kid = key.kid(), "signing key created");
    }
    // Replicas starting together may each create one; all read back the same newest key.
    let stored = store::unretired_signing_keys(&mut conn).await?;
    let newest = stored
        .first()
        .context("no signing key after creating one")?;
    SigningKey::from_pkcs8_der(newest.kid.clone(), &newest.private_key_der)
}

/// Reads the public keys from auth's own database.
struct StoreJwks {
    core: Arc<AuthCore>,
}

#[async_trait::async_trait]
impl JwksSource for StoreJwks {
    async fn fetch(&self) -> anyhow::Result<Vec<Jwk>> {
        self.core.jwks().await.map_err(anyhow::Error::new)
    }
}
