//! The system under measurement: the auth service and two gateways in front of it, started
//! in this process from the same parts the `gigmesh` command composes.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use gigmesh_auth::{GrpcJwksSource, Role, TokenVerifier};
use gigmesh_auth_service::{App, Config as AuthConfig, MailTokenPublicKeyConfig, ThrottleConfig};
use gigmesh_config::{BusConfig, DatabaseConfig};
use gigmesh_gateway::{Gateway, GatewayConfig, Upstream};
use gigmesh_proto::auth::Jwk;
use gigmesh_runtime::process::{open_bus, open_database, spawn_key_refresh};
use gigmesh_runtime::{Background, RunningService, Service as _, ServiceDeps};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The account every measured call signs in as.
pub const LOGIN: &str = "bench_buyer";
/// Its password.
pub const PASSWORD: &str = "bench-password-1";
const EMAIL: &str = "bench_buyer@gigmesh.dev";

/// The gRPC service every measured call goes to.
const AUTH_SERVICE: &str = gigmesh_proto::auth::auth_service_server::SERVICE_NAME;
/// A per-address budget no benchmark reaches: every call comes from 127.0.0.1, and the
/// limits exist for real clients, not for measuring.
const UNREACHABLE_LIMIT: u32 = 1_000_000_000;

/// The auth service and the gateways, serving on 127.0.0.1 until [`BenchMesh::stop`].
pub struct BenchMesh {
    /// The auth service itself, started by [`RunningService`] as `gigmesh serve auth` does.
    pub service: SocketAddr,
    /// A gateway that forwards over a tonic channel to [`BenchMesh::service`], as
    /// `gigmesh gateway` does in distributed mode.
    pub gateway_over_channel: SocketAddr,
    /// A gateway that calls the service's routes in this process, as `gigmesh dev` does.
    pub gateway_in_process: SocketAddr,
    /// The settings the auth service runs with.
    pub auth_config: AuthConfig,
    /// Verifies access tokens with auth's public keys, as the in-process gateway does.
    pub verifier: TokenVerifier,
    /// Auth's public keys, to build verifiers that have seen no token yet.
    pub jwks: Vec<Jwk>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    _data_dir: TempDir,
}

impl BenchMesh {
    /// Builds the auth service on a fresh SQLite database and embedded event log in a
    /// temporary directory, seeds a verified account, and starts the service and both
    /// gateways on ports chosen by the system.
    pub async fn start() -> anyhow::Result<Self> {
        let data_dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();

        let bus_config = BusConfig {
            embedded_path: data_dir.path().join("bus.db"),
            ..BusConfig::default()
        };
        let bus = open_bus(&bus_config).await?;
        let database = DatabaseConfig {
            url: format!("sqlite://{}", data_dir.path().join("auth.db").display()),
            ..DatabaseConfig::default()
        };
        let db = open_database(App::DESCRIPTION.name, &database).await?;

        let auth_config = auth_config_for_benchmarks();
        let auth = App::build(
            ServiceDeps::new(db, bus, TokenVerifier::from_jwks([])),
            auth_config.clone(),
        )
        .await?;
        auth.seed_account(EMAIL, LOGIN, PASSWORD, &[Role::Buyer], true)
            .await?;

        let running =
            RunningService::start(&auth, "127.0.0.1:0", Background::Run, shutdown.clone()).await?;
        let service = running.address();
        tasks.spawn(async move {
            if let Err(error) = running.run_until_stopped().await {
                tracing::error!(error = format!("{error:#}"), "auth service stopped");
            }
        });

        let service_url = format!("http://{service}");
        let remote_verifier =
            TokenVerifier::remote(Arc::new(GrpcJwksSource::connect_lazy(&service_url)?));
        let gateway_over_channel = start_gateway(
            &mut tasks,
            &shutdown,
            remote_verifier,
            Upstream::connect_lazy(&service_url)?,
        )
        .await?;

        let jwks = auth.store_jwks().fetch().await?;
        let verifier = TokenVerifier::remote(auth.store_jwks());
        let gateway_in_process = start_gateway(
            &mut tasks,
            &shutdown,
            verifier.clone(),
            Upstream::in_process(gigmesh_runtime::Service::routes(&auth)),
        )
        .await?;

        Ok(Self {
            service,
            gateway_over_channel,
            gateway_in_process,
            auth_config,
            verifier,
            jwks,
            shutdown,
            tasks,
            _data_dir: data_dir,
        })
    }

    /// Stops serving and waits for every task to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Production settings, except that failed log-ins are never throttled: the benchmark signs
/// in only with the right password, so no failure is ever counted, but a benchmark must not
/// depend on that. Mailed tokens are sealed to a throwaway key (nothing here opens them).
fn auth_config_for_benchmarks() -> AuthConfig {
    let mail_token_keys = gigmesh_testing::TestMailTokenKeys::generate("bench");
    AuthConfig {
        mail_token_public_key: MailTokenPublicKeyConfig {
            key_id: mail_token_keys.key_id.clone(),
            public_key: mail_token_keys.public_key_base64(),
            ..MailTokenPublicKeyConfig::default()
        },
        throttle: ThrottleConfig {
            max_failures_per_account: UNREACHABLE_LIMIT,
            max_failures_per_address: UNREACHABLE_LIMIT,
            ..ThrottleConfig::default()
        },
        ..AuthConfig::default()
    }
}

/// Production gateway settings, except for the per-address rate limit of sign-in methods.
fn gateway_config_for_benchmarks() -> GatewayConfig {
    GatewayConfig {
        listen: "127.0.0.1:0".to_owned(),
        rate_limit_per_minute: UNREACHABLE_LIMIT,
        rate_limit_burst: UNREACHABLE_LIMIT,
        ..GatewayConfig::default()
    }
}

async fn bind_loopback() -> anyhow::Result<TcpListener> {
    TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on 127.0.0.1")
}

/// Starts a gateway that forwards auth's calls to `upstream`, with its verifier's keys
/// loaded and refreshed as in production.
async fn start_gateway(
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
    verifier: TokenVerifier,
    upstream: Upstream,
) -> anyhow::Result<SocketAddr> {
    verifier
        .refresh()
        .await
        .context("the gateway cannot load auth's public keys")?;
    spawn_key_refresh(tasks, &verifier, shutdown);

    let gateway = Gateway::new(
        gateway_config_for_benchmarks(),
        verifier,
        vec![(AUTH_SERVICE.to_owned(), upstream)],
    )?;
    let listener = bind_loopback().await?;
    let address = listener.local_addr()?;
    let gateway_shutdown = shutdown.clone();
    tasks.spawn(async move {
        if let Err(error) = gateway.serve(listener, gateway_shutdown).await {
            tracing::error!(error = format!("{error:#}"), "gateway stopped");
        }
    });
    Ok(address)
}
