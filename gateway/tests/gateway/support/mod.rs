//! A small mesh for the gateway tests: fake auth and users services built from the real
//! generated servers, the gateway in front on 127.0.0.1:0, and clients for native gRPC and
//! hand-built grpc-web.

mod fakes;
mod grpc_web;

use std::net::SocketAddr;
use std::sync::Arc;

use gigmesh_auth::{
    ACCESS_TOKEN_LIFETIME, Claims, GrpcJwksSource, Role, SigningKey, TokenSigner, TokenVerifier,
};
use gigmesh_gateway::{DnsResolver, Gateway, GatewayConfig, Upstream};
use gigmesh_proto::auth;
use gigmesh_proto::users;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::Request;
use tonic::transport::{Channel, Endpoint, Server};

pub use auth::auth_service_client::AuthServiceClient;
pub use fakes::{SLOW_CALL, Seen};
pub use grpc_web::{GrpcWebFormat, GrpcWebReply, grpc_web_call};
pub use users::user_service_client::UserServiceClient;

pub const AUTH_SERVICE: &str = "gigmesh.auth.v1.AuthService";
pub const USER_SERVICE: &str = "gigmesh.users.v1.UserService";
pub const SIGN_UP: &str = "/gigmesh.auth.v1.AuthService/SignUp";
pub const GET_MY_ACCOUNT: &str = "/gigmesh.auth.v1.AuthService/GetMyAccount";

/// How the gateway reaches the fakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    /// The fakes' routes in this process (`gigmesh dev`).
    InProcess,
    /// A balanced channel to the fakes served on their own port, and the verifier fetching
    /// the keys from the fake auth's GetJwks (`gigmesh gateway`).
    Channel,
}

pub const BOTH_KINDS: [UpstreamKind; 2] = [UpstreamKind::InProcess, UpstreamKind::Channel];

/// The gateway in front of the fakes.
pub struct Mesh {
    pub address: SocketAddr,
    pub signer: TokenSigner,
    pub key: SigningKey,
    pub seen: Seen,
    pub shutdown: CancellationToken,
    pub gateway: JoinHandle<anyhow::Result<()>>,
    upstream_shutdown: CancellationToken,
}

impl Drop for Mesh {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.upstream_shutdown.cancel();
    }
}

/// Starts the fakes and a gateway with `config` in front of them.
pub async fn start(config: GatewayConfig, kind: UpstreamKind) -> Mesh {
    let key = SigningKey::generate();
    let signer = TokenSigner::new(&key).unwrap();
    let seen = Seen::default();
    let routes = fakes::routes(vec![key.public_jwk()], &seen);

    let upstream_shutdown = CancellationToken::new();
    let (upstream, verifier) = match kind {
        UpstreamKind::InProcess => (
            Upstream::in_process(routes),
            TokenVerifier::from_jwks(vec![key.public_jwk()]),
        ),
        UpstreamKind::Channel => {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            tokio::spawn(
                Server::builder()
                    .add_routes(routes)
                    .serve_with_incoming_shutdown(
                        TcpListenerStream::new(listener),
                        upstream_shutdown.clone().cancelled_owned(),
                    ),
            );
            let url = format!("http://{address}");
            let source = Arc::new(GrpcJwksSource::connect_lazy(&url).unwrap());
            // As `gigmesh gateway` reaches a service: balanced over what its host resolves to.
            let (upstream, mut discovery) =
                Upstream::balanced(&url, Arc::new(DnsResolver)).unwrap();
            discovery.refresh().await;
            (upstream, TokenVerifier::remote(source))
        }
    };

    let gateway = Gateway::new(
        config,
        verifier,
        vec![
            (AUTH_SERVICE.to_owned(), upstream.clone()),
            (USER_SERVICE.to_owned(), upstream),
        ],
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let gateway = tokio::spawn(gateway.serve(listener, shutdown.clone()));
    Mesh {
        address,
        signer,
        key,
        seen,
        shutdown,
        gateway,
        upstream_shutdown,
    }
}

impl Mesh {
    /// A fresh access token with `roles`.
    pub fn token(&self, roles: &[Role]) -> String {
        self.signer.sign(&access_claims(roles)).unwrap()
    }

    /// A token with `roles` that expired an hour ago.
    pub fn expired_token(&self, roles: &[Role]) -> String {
        let mut claims = access_claims(roles);
        claims.iat -= 3600;
        claims.exp = claims.iat + 900;
        self.signer.sign(&claims).unwrap()
    }

    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.address))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub async fn auth(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel().await)
    }

    pub async fn users(&self) -> UserServiceClient<Channel> {
        UserServiceClient::new(self.channel().await)
    }

    /// Ada's sign-up over grpc-web, binary, without extra headers.
    pub async fn grpc_web_sign_up(&self) -> GrpcWebReply {
        grpc_web_call(
            self.address,
            SIGN_UP,
            &sign_up_request(),
            &[],
            GrpcWebFormat::Binary,
        )
        .await
    }
}

/// The claims of a fresh access token of user-1 with `roles`.
fn access_claims(roles: &[Role]) -> Claims {
    Claims::new("user-1", "session-1", roles, ACCESS_TOKEN_LIFETIME)
}

/// A fresh access token with `roles`, signed by `key` rather than by the mesh's own key.
pub fn token_signed_by(key: &SigningKey, roles: &[Role]) -> String {
    TokenSigner::new(key)
        .unwrap()
        .sign(&access_claims(roles))
        .unwrap()
}

/// The sign-up every test uses: Ada, with a valid email and password.
pub fn sign_up_request() -> auth::SignUpRequest {
    auth::SignUpRequest {
        email: "ada@example.com".to_owned(),
        username: "ada".to_owned(),
        password: "correct horse battery staple".to_owned(),
    }
}

/// `message` with `authorization: Bearer <token>`.
pub fn with_token<T>(message: T, token: &str) -> Request<T> {
    with_header(message, "authorization", &format!("Bearer {token}"))
}

/// `message` with one metadata entry.
pub fn with_header<T>(message: T, name: &'static str, value: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(name, value.parse().unwrap());
    request
}

/// One replica of the fakes, served on a port of its own and recording into a `Seen` of
/// its own, as one pod of a service; stops on drop.
pub struct Replica {
    pub address: SocketAddr,
    pub seen: Seen,
    shutdown: CancellationToken,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Serves a fresh replica of the fakes on 127.0.0.1.
pub async fn start_replica() -> Replica {
    let seen = Seen::default();
    let routes = fakes::routes(Vec::new(), &seen);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(
        Server::builder()
            .add_routes(routes)
            .serve_with_incoming_shutdown(
                TcpListenerStream::new(listener),
                shutdown.clone().cancelled_owned(),
            ),
    );
    Replica {
        address,
        seen,
        shutdown,
    }
}

/// A gateway with the default configuration in front of `upstreams`; stops on drop.
pub struct GatewayHandle {
    pub address: SocketAddr,
    shutdown: CancellationToken,
}

impl Drop for GatewayHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl GatewayHandle {
    pub async fn users(&self) -> UserServiceClient<Channel> {
        UserServiceClient::connect(format!("http://{}", self.address))
            .await
            .unwrap()
    }
}

/// Starts a gateway in front of `upstreams`, verifying tokens of a key of its own.
pub async fn start_gateway(upstreams: Vec<(String, Upstream)>) -> GatewayHandle {
    let key = SigningKey::generate();
    let gateway = Gateway::new(
        GatewayConfig::default(),
        TokenVerifier::from_jwks(vec![key.public_jwk()]),
        upstreams,
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(gateway.serve(listener, shutdown.clone()));
    GatewayHandle { address, shutdown }
}
