//! A small mesh for the gateway tests: fake auth and users services built from the real
//! generated servers, the gateway in front on 127.0.0.1:0, and clients for native gRPC and
//! hand-built grpc-web.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use gigmesh_auth::{
    ACCESS_TOKEN_LIFETIME, Claims, GrpcJwksSource, Role, SigningKey, TokenSigner, TokenVerifier,
};
use gigmesh_gateway::{Gateway, GatewayConfig, Upstream};
use gigmesh_proto::auth;
use gigmesh_proto::users;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataMap;
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Response, Status};

pub use auth::auth_service_client::AuthServiceClient;
pub use users::user_service_client::UserServiceClient;

pub const AUTH_SERVICE: &str = "gigmesh.auth.v1.AuthService";
pub const USER_SERVICE: &str = "gigmesh.users.v1.UserService";
/// How long the fake's ListSessions takes, for the drain test.
pub const SLOW_CALL: Duration = Duration::from_millis(600);

/// The metadata of every call the fakes received, by method.
#[derive(Clone, Default)]
pub struct Seen(Arc<Mutex<Vec<(&'static str, MetadataMap)>>>);

impl Seen {
    fn record<T>(&self, method: &'static str, request: &Request<T>) {
        self.0
            .lock()
            .unwrap()
            .push((method, request.metadata().clone()));
    }

    /// The metadata of the last call to `method`.
    pub fn last(&self, method: &str) -> Option<MetadataMap> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(name, _)| *name == method)
            .map(|(_, metadata)| metadata.clone())
    }

    pub fn count(&self, method: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(name, _)| *name == method)
            .count()
    }
}

struct FakeAuth {
    jwks: Vec<auth::Jwk>,
    seen: Seen,
}

fn not_faked<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not in the fake"))
}

#[tonic::async_trait]
impl auth::auth_service_server::AuthService for FakeAuth {
    async fn sign_up(
        &self,
        request: Request<auth::SignUpRequest>,
    ) -> Result<Response<auth::SignUpResponse>, Status> {
        self.seen.record("SignUp", &request);
        let request = request.into_inner();
        Ok(Response::new(auth::SignUpResponse {
            account: Some(auth::Account {
                id: "0190c7a6-0000-7000-8000-000000000001".to_owned(),
                email: request.email,
                username: request.username,
                ..Default::default()
            }),
        }))
    }
    async fn verify_email(
        &self,
        _request: Request<auth::VerifyEmailRequest>,
    ) -> Result<Response<auth::VerifyEmailResponse>, Status> {
        not_faked()
    }
    async fn resend_verification_email(
        &self,
        _request: Request<auth::ResendVerificationEmailRequest>,
    ) -> Result<Response<auth::ResendVerificationEmailResponse>, Status> {
        not_faked()
    }
    async fn log_in(
        &self,
        request: Request<auth::LogInRequest>,
    ) -> Result<Response<auth::LogInResponse>, Status> {
        self.seen.record("LogIn", &request);
        Ok(Response::new(auth::LogInResponse::default()))
    }
    async fn refresh_token(
        &self,
        _request: Request<auth::RefreshTokenRequest>,
    ) -> Result<Response<auth::RefreshTokenResponse>, Status> {
        not_faked()
    }
    async fn log_out(
        &self,
        _request: Request<auth::LogOutRequest>,
    ) -> Result<Response<auth::LogOutResponse>, Status> {
        not_faked()
    }
    async fn get_my_account(
        &self,
        request: Request<auth::GetMyAccountRequest>,
    ) -> Result<Response<auth::Account>, Status> {
        self.seen.record("GetMyAccount", &request);
        Ok(Response::new(auth::Account {
            id: "me".to_owned(),
            ..Default::default()
        }))
    }
    async fn list_sessions(
        &self,
        request: Request<auth::ListSessionsRequest>,
    ) -> Result<Response<auth::ListSessionsResponse>, Status> {
        self.seen.record("ListSessions", &request);
        tokio::time::sleep(SLOW_CALL).await;
        Ok(Response::new(auth::ListSessionsResponse::default()))
    }
    async fn revoke_session(
        &self,
        _request: Request<auth::RevokeSessionRequest>,
    ) -> Result<Response<auth::RevokeSessionResponse>, Status> {
        not_faked()
    }
    async fn change_password(
        &self,
        _request: Request<auth::ChangePasswordRequest>,
    ) -> Result<Response<auth::ChangePasswordResponse>, Status> {
        not_faked()
    }
    async fn request_password_reset(
        &self,
        _request: Request<auth::RequestPasswordResetRequest>,
    ) -> Result<Response<auth::RequestPasswordResetResponse>, Status> {
        not_faked()
    }
    async fn reset_password(
        &self,
        _request: Request<auth::ResetPasswordRequest>,
    ) -> Result<Response<auth::ResetPasswordResponse>, Status> {
        not_faked()
    }
    async fn get_jwks(
        &self,
        request: Request<auth::GetJwksRequest>,
    ) -> Result<Response<auth::GetJwksResponse>, Status> {
        self.seen.record("GetJwks", &request);
        Ok(Response::new(auth::GetJwksResponse {
            keys: self.jwks.clone(),
        }))
    }
    async fn suspend_account(
        &self,
        request: Request<auth::SuspendAccountRequest>,
    ) -> Result<Response<auth::Account>, Status> {
        self.seen.record("SuspendAccount", &request);
        Ok(Response::new(auth::Account {
            id: request.into_inner().account_id,
            state: auth::AccountState::Suspended as i32,
            ..Default::default()
        }))
    }
    async fn unsuspend_account(
        &self,
        _request: Request<auth::UnsuspendAccountRequest>,
    ) -> Result<Response<auth::Account>, Status> {
        not_faked()
    }
}

struct FakeUsers {
    seen: Seen,
}

#[tonic::async_trait]
impl users::user_service_server::UserService for FakeUsers {
    async fn get_my_profile(
        &self,
        _request: Request<users::GetMyProfileRequest>,
    ) -> Result<Response<users::Profile>, Status> {
        not_faked()
    }
    async fn update_my_profile(
        &self,
        _request: Request<users::UpdateMyProfileRequest>,
    ) -> Result<Response<users::Profile>, Status> {
        not_faked()
    }
    async fn become_seller(
        &self,
        _request: Request<users::BecomeSellerRequest>,
    ) -> Result<Response<users::Profile>, Status> {
        not_faked()
    }
    async fn update_my_seller_profile(
        &self,
        request: Request<users::UpdateMySellerProfileRequest>,
    ) -> Result<Response<users::Profile>, Status> {
        self.seen.record("UpdateMySellerProfile", &request);
        Ok(Response::new(users::Profile {
            is_seller: true,
            ..Default::default()
        }))
    }
    async fn get_public_profile(
        &self,
        request: Request<users::GetPublicProfileRequest>,
    ) -> Result<Response<users::PublicProfile>, Status> {
        self.seen.record("GetPublicProfile", &request);
        Ok(Response::new(users::PublicProfile {
            username: "ada".to_owned(),
            ..Default::default()
        }))
    }
}

/// How the gateway reaches the fakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    /// The fakes' routes in this process (`gigmesh dev`).
    InProcess,
    /// A channel to the fakes served on their own port, and the verifier fetching the keys
    /// from the fake auth's GetJwks (`gigmesh gateway`).
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
    let routes = Routes::new(auth::auth_service_server::AuthServiceServer::new(
        FakeAuth {
            jwks: vec![key.public_jwk()],
            seen: seen.clone(),
        },
    ))
    .add_service(users::user_service_server::UserServiceServer::new(
        FakeUsers { seen: seen.clone() },
    ));

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
            (
                Upstream::connect_lazy(&url).unwrap(),
                TokenVerifier::remote(source),
            )
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
        self.signer
            .sign(&Claims::new(
                "user-1",
                "session-1",
                roles,
                ACCESS_TOKEN_LIFETIME,
            ))
            .unwrap()
    }

    /// A token with `roles` that expired an hour ago.
    pub fn expired_token(&self, roles: &[Role]) -> String {
        let mut claims = Claims::new("user-1", "session-1", roles, ACCESS_TOKEN_LIFETIME);
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

/// What a grpc-web call answered.
#[derive(Debug)]
pub struct GrpcWebReply {
    pub http_status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub grpc_status: Option<i32>,
    pub grpc_message: String,
    pub messages: Vec<Bytes>,
}

/// Which grpc-web wire format to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcWebFormat {
    Binary,
    Text,
}

/// Calls `path` with grpc-web over HTTP/1.1, frames built by hand.
pub async fn grpc_web_call(
    address: SocketAddr,
    path: &str,
    message: &impl prost::Message,
    headers: &[(&str, &str)],
    format: GrpcWebFormat,
) -> GrpcWebReply {
    let encoded = message.encode_to_vec();
    let mut frame = BytesMut::with_capacity(5 + encoded.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(encoded.len()).unwrap());
    frame.extend_from_slice(&encoded);
    let (content_type, body) = match format {
        GrpcWebFormat::Binary => ("application/grpc-web+proto", frame.freeze()),
        GrpcWebFormat::Text => (
            "application/grpc-web-text",
            Bytes::from(STANDARD.encode(&frame)),
        ),
    };
    let mut request = http::Request::post(format!("http://{address}{path}"))
        .header("content-type", content_type)
        .header("accept", content_type)
        .header("x-grpc-web", "1")
        .header("x-user-agent", "grpc-web-javascript/0.1");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body)).unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_11);
    let (parts, body) = response.into_parts();
    let raw = body.collect().await.unwrap().to_bytes();
    if parts.status == http::StatusCode::OK {
        let answered = parts.headers["content-type"].to_str().unwrap();
        assert!(
            answered.starts_with(content_type),
            "{answered} for {content_type}"
        );
    }
    let mut payload = match format {
        GrpcWebFormat::Binary => raw,
        // Each chunk is encoded on its own (with padding), so decode group by group.
        GrpcWebFormat::Text => {
            let mut decoded = Vec::new();
            for group in raw.chunks(4) {
                decoded.extend(STANDARD.decode(group).unwrap());
            }
            Bytes::from(decoded)
        }
    };

    let header_status = parts
        .headers
        .get("grpc-status")
        .map(|value| value.to_str().unwrap().parse::<i32>().unwrap());
    let mut reply = GrpcWebReply {
        http_status: parts.status,
        grpc_status: header_status,
        grpc_message: parts
            .headers
            .get("grpc-message")
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default(),
        headers: parts.headers,
        messages: Vec::new(),
    };
    while payload.remaining() >= 5 {
        let flags = payload.get_u8();
        let length = payload.get_u32() as usize;
        let content = payload.split_to(length);
        if flags & 0x80 == 0 {
            reply.messages.push(content);
            continue;
        }
        for line in std::str::from_utf8(&content).unwrap().split("\r\n") {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            match name.trim().to_ascii_lowercase().as_str() {
                "grpc-status" => reply.grpc_status = Some(value.trim().parse().unwrap()),
                "grpc-message" => reply.grpc_message = value.trim().to_owned(),
                _ => {}
            }
        }
    }
    reply
}
