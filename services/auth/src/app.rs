//! Building the auth service from its ports and settings: migrations, the signing key, the
//! gRPC routes and the background tasks (outbox relay, `gigmesh.users.v1` consumer).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use gigmesh_auth::{JwksSource, Role, SigningKey, TokenSigner, TokenVerifier};
use gigmesh_db::{Db, Migrations};
use gigmesh_events::{BackgroundTask, Consumer, ConsumerSpec, Relay};
use gigmesh_proto::auth::Jwk;
use gigmesh_proto::auth::auth_service_server::{AuthServiceServer, SERVICE_NAME};
use gigmesh_runtime::retention::RetentionRule;
use gigmesh_runtime::{Description, Service, ServiceDeps};
use gigmesh_types::{Email, now_millis};
use tonic::service::Routes;

use crate::api::AuthApi;
pub use crate::config::Config;
use crate::credentials::PasswordHasher;
use crate::domain::{Password, Username};
use crate::events::{CONSUMER_NAME, UsersEventHandler};
use crate::mail_token::MailTokenSealer;
use crate::output::public_jwks;
use crate::store;
use crate::use_cases::AuthCore;

/// The auth service's own tables (accounts, sessions, keys, log-in counters and networks).
pub static MIGRATIONS: Migrations = gigmesh_db::migrations!();

/// The accounts `gigmesh dev` starts with: (email, username, password, roles).
pub const DEMO_ACCOUNTS: &[(&str, &str, &str, &[Role])] = &[
    (
        "admin@gigmesh.dev",
        "admin",
        "admin-password-1",
        &[Role::Buyer, Role::Admin],
    ),
    (
        "buyer@gigmesh.dev",
        "demo_buyer",
        "buyer-password-1",
        &[Role::Buyer],
    ),
];

/// The auth service, built and ready to serve.
#[derive(Clone)]
pub struct App {
    core: Arc<AuthCore>,
    deps: ServiceDeps,
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

/// What auth keeps past its use, in deletion order (refresh tokens before the sessions they
/// belong to). A spent refresh token is kept until it would have expired, so presenting it
/// again is still recognised as a replay while its session could live.
const RETENTION: &[RetentionRule] = &[
    RetentionRule {
        name: "refresh_tokens",
        table: "refresh_tokens",
        expired: "expire_time < $1 OR session_id IN \
                  (SELECT id FROM sessions WHERE revoke_time < $1)",
        default_horizon_hours: 24,
    },
    RetentionRule {
        name: "sessions",
        table: "sessions",
        expired: "(expire_time < $1 OR revoke_time < $1) AND NOT EXISTS \
                  (SELECT 1 FROM refresh_tokens WHERE refresh_tokens.session_id = sessions.id)",
        default_horizon_hours: 30 * 24,
    },
    RetentionRule {
        name: "mailed_tokens",
        table: "mailed_tokens",
        expired: "expire_time < $1",
        default_horizon_hours: 24,
    },
    // Windows last `auth.settings.throttle.window_seconds` (15 minutes by default), and a
    // network's series of failures ends a window after its last one: a day later both are
    // long over.
    RetentionRule {
        name: "login_failures",
        table: "login_failures",
        expired: "window_start < $1",
        default_horizon_hours: 24,
    },
    RetentionRule {
        name: "login_network_failures",
        table: "login_network_failures",
        expired: "last_failure_time < $1",
        default_horizon_hours: 24,
    },
    // A network stays known for `auth.settings.throttle.known_network_ttl_seconds` (30 days
    // by default) after its last proven password; the log-in checks the age itself, so a
    // longer horizon only keeps rows longer.
    RetentionRule {
        name: "login_networks",
        table: "login_networks",
        expired: "last_success_time < $1",
        default_horizon_hours: 30 * 24,
    },
    RetentionRule {
        name: "mail_requests",
        table: "mail_requests",
        expired: "last_mail_time < $1",
        default_horizon_hours: 24,
    },
];

#[async_trait::async_trait]
impl Service for App {
    type Config = Config;

    const DESCRIPTION: Description = Description {
        name: "auth",
        summary: "Accounts, credentials, sessions, signing keys.",
        grpc_services: &[SERVICE_NAME],
        produces: &[gigmesh_proto::auth::TOPIC],
        consumes: &[gigmesh_proto::users::TOPIC],
        migrations: &[&MIGRATIONS, &gigmesh_events::EVENTS_MIGRATIONS],
        default_port: 50051,
        issues_tokens: true,
        retention: RETENTION,
    };

    /// Loads the signing key (creating one on the first start) and the key mailed tokens are
    /// sealed to, and prepares the password hasher.
    ///
    /// Access tokens reaching this service are verified against its own key table, so the
    /// verifier in `deps` is not needed here.
    async fn assemble(deps: ServiceDeps, config: Config) -> anyhow::Result<App> {
        crate::counters::describe_metrics();
        let signing_key = load_or_create_signing_key(&deps.db).await?;
        let signer = TokenSigner::new(&signing_key)?;
        let mail_token_sealer = MailTokenSealer::from_config(&config.mail_token_public_key)?;
        let hasher = PasswordHasher::new(&config.argon2).await?;
        let core = Arc::new(AuthCore {
            db: deps.db.clone(),
            config,
            hasher,
            signer,
            mail_token_sealer,
        });
        let verifier = TokenVerifier::remote(Arc::new(StoreJwks { core: core.clone() }));
        verifier
            .refresh()
            .await
            .context("cannot load the token keys")?;
        tracing::info!(kid = core.signer.kid(), "auth service ready");
        Ok(App {
            core,
            deps,
            verifier,
        })
    }

    /// The `gigmesh.auth.v1.AuthService` routes, behind the caller layer that verifies
    /// access tokens.
    fn routes(&self) -> Routes {
        let service = AuthServiceServer::new(AuthApi::new(self.core.clone()));
        gigmesh_grpc::with_caller(Routes::new(service), self.verifier.clone())
    }

    /// The outbox relay and the `gigmesh.users.v1` consumer, to run until shutdown.
    fn background(&self) -> Vec<Box<dyn BackgroundTask>> {
        vec![Box::new(self.relay()), Box::new(self.users_events())]
    }

    /// Dev mode seals mailed tokens to the key pair notifications keeps under the data
    /// directory, unless a key was configured.
    fn use_data_dir(config: &mut Config, data_dir: &Path) {
        config.mail_token_public_key.use_data_dir(data_dir);
    }

    fn jwks_source(&self) -> Option<Arc<dyn JwksSource>> {
        Some(self.store_jwks())
    }

    /// The demo accounts ([`DEMO_ACCOUNTS`]), verified, unless they exist.
    async fn seed_demo_data(&self) -> anyhow::Result<()> {
        for (email, username, password, roles) in DEMO_ACCOUNTS {
            self.seed_account(email, username, password, roles, true)
                .await
                .with_context(|| format!("cannot create the demo account {username}"))?;
        }
        Ok(())
    }
}

impl App {
    /// The relay that publishes auth's outbox to `gigmesh.auth.v1`.
    pub fn relay(&self) -> Relay {
        self.deps.relay(Self::DESCRIPTION.name)
    }

    /// The consumer of `gigmesh.users.v1` (grants the seller role), not yet subscribed.
    pub fn users_events(&self) -> ConsumerSpec {
        self.deps.consumer(
            CONSUMER_NAME,
            &[gigmesh_proto::users::TOPIC],
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
    pub fn store_jwks(&self) -> Arc<dyn JwksSource> {
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
        let context = || format!("cannot seed the account {username}");
        let email = Email::parse("email", email).with_context(context)?;
        let parsed_username = Username::parse("username", username).with_context(context)?;
        let password =
            Password::parse_new("password", password.to_owned()).with_context(context)?;
        self.core
            .seed_account(&email, &parsed_username, &password, roles, verified)
            .await
            .with_context(context)
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
        let keys = self.core.signing_keys().await?;
        Ok(public_jwks(&keys))
    }
}
