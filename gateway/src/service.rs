//! The gateway's handling of one gRPC call, after grpc-web translation: request id and trace
//! context, routing by path, the method's policy (rate limit, token, access), the message
//! size cap, and forwarding to the owning service with the body passed through.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use gigmesh_auth::{Access, TokenVerifier, bearer_token};
use gigmesh_grpc::{GrpcMetricsLayer, grpc_code_name, split_grpc_path};
use http::header::{self, HeaderName, HeaderValue};
use tonic::body::Body;
use tonic::service::Routes;
use tonic::transport::server::TcpConnectInfo;
use tonic::{Code, Status};
use tower::{Service, ServiceExt as _};
use tracing::Instrument as _;

use crate::client_address::ClientAddressResolver;
use crate::message_size::{MessageSizeLimit, OversizedFlag, oversized_status};
use crate::policy::MethodPolicy;
use crate::rate_limit::ClientRateLimiter;
use crate::upstream::UpstreamService;

/// Correlates the logs of one call across the gateway and the services; echoed to the client.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The client address, as the gateway resolved it, for the services.
const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// Longest client-chosen request id kept; longer ones are replaced.
const MAX_REQUEST_ID_LENGTH: usize = 128;
/// Headers that describe one HTTP connection and must not be forwarded on another
/// (RFC 9110 §7.6.1; HTTP/2 forbids them outright).
const HOP_BY_HOP_HEADERS: [HeaderName; 5] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];
/// Services the gateway answers itself.
const LOCAL_SERVICES: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];
/// Their methods, listed so that made-up methods never reach the metrics as labels.
const LOCAL_METHODS: [&str; 4] = [
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// One method the gateway forwards, with its policy and owner.
pub(crate) struct MethodRoute {
    pub(crate) service: String,
    pub(crate) method: String,
    pub(crate) policy: MethodPolicy,
    pub(crate) upstream: UpstreamService,
}

/// Everything the calls share.
pub(crate) struct GatewayState {
    /// Forwarded methods by path (`/gigmesh.auth.v1.AuthService/LogIn`).
    pub(crate) methods: HashMap<String, Arc<MethodRoute>>,
    /// Every service the proto contracts define, and whether this gateway serves it.
    pub(crate) known_services: HashMap<String, bool>,
    pub(crate) verifier: TokenVerifier,
    pub(crate) rate_limiter: ClientRateLimiter,
    pub(crate) client_addresses: ClientAddressResolver,
    pub(crate) max_message_bytes: usize,
}

/// The gRPC entry of the gateway (native gRPC, or grpc-web already translated).
#[derive(Clone)]
pub(crate) struct GatewayService {
    state: Arc<GatewayState>,
    forwarder: UpstreamService,
    local: UpstreamService,
}

impl GatewayService {
    pub(crate) fn new(state: Arc<GatewayState>, local_routes: Routes) -> Self {
        // Metrics sit inside routing, so that only methods the gateway knows get their own
        // label values: paths are chosen by clients, and a label per made-up path would let
        // anyone grow the metrics without bound. Unknown paths are counted here instead.
        Self {
            forwarder: with_metrics(Forwarder {
                state: state.clone(),
            }),
            local: with_metrics(local_routes),
            state,
        }
    }
}

impl Service<http::Request<Body>> for GatewayService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness of the upstream is awaited per call (`oneshot`), once the route is known.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let request_id = request_id(request.headers());
        let (service, method) = split_grpc_path(request.uri().path());
        let span = tracing::info_span!(
            "gateway",
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
            request_id = request_id.to_str().unwrap_or_default(),
        );
        let destination = match self.state.methods.get(request.uri().path()) {
            Some(route) => Destination::Forward(route.clone()),
            None if LOCAL_METHODS.contains(&request.uri().path()) => Destination::Local,
            None => Destination::Refuse(unknown_method(&self.state, service, method)),
        };

        request.headers_mut().insert(REQUEST_ID, request_id.clone());
        gigmesh_telemetry::propagation::set_parent_from_headers(&span, request.headers());
        // The services continue the trace from the gateway's span (a no-op without an
        // OpenTelemetry exporter, which leaves the client's traceparent as it came).
        span.in_scope(|| {
            gigmesh_telemetry::propagation::inject_current_into_headers(request.headers_mut());
        });

        let dispatched: BoxFuture<'static, http::Response<Body>> = match destination {
            Destination::Forward(route) => {
                request.extensions_mut().insert(route);
                let forwarder = self.forwarder.clone();
                Box::pin(async move {
                    let response = forwarder.oneshot(request).await;
                    response.unwrap_or_else(|never| match never {})
                })
            }
            Destination::Local => {
                let local = self.local.clone();
                Box::pin(async move {
                    let response = local.oneshot(request).await;
                    response.unwrap_or_else(|never| match never {})
                })
            }
            Destination::Refuse(status) => {
                count_unknown_method();
                Box::pin(std::future::ready(refusal(status)))
            }
        };

        Box::pin(
            async move {
                let mut response = dispatched.await;
                response.headers_mut().insert(REQUEST_ID, request_id);
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// Where a call goes.
enum Destination {
    /// To the service that owns the method, through the method's policy.
    Forward(Arc<MethodRoute>),
    /// To the gateway's own health and reflection services.
    Local,
    /// Nowhere: the service or method is unknown.
    Refuse(Status),
}

fn unknown_method(state: &GatewayState, service: &str, method: &str) -> Status {
    let served_here = match state.known_services.get(service) {
        Some(served) => *served,
        None if LOCAL_SERVICES.contains(&service) => true,
        None => return Status::unimplemented(format!("unknown service {service}")),
    };
    if served_here {
        Status::unimplemented(format!("{service} has no method {method}"))
    } else {
        Status::unimplemented(format!("{service} is not served here"))
    }
}

fn with_metrics<S>(service: S) -> UpstreamService
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    UpstreamService::new(
        tower::ServiceBuilder::new()
            .map_response(|response: http::Response<_>| response.map(Body::new))
            .layer(GrpcMetricsLayer)
            .service(service),
    )
}

/// The client's request id when it is a sane header value, else a new UUIDv7.
fn request_id(headers: &http::HeaderMap) -> HeaderValue {
    if let Some(given) = headers.get(REQUEST_ID) {
        let length = given.len();
        if length > 0
            && length <= MAX_REQUEST_ID_LENGTH
            && given.as_bytes().iter().all(u8::is_ascii_graphic)
        {
            return given.clone();
        }
    }
    let mut buffer = uuid::Uuid::encode_buffer();
    let generated = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buffer);
    HeaderValue::from_str(generated).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

fn count_unknown_method() {
    metrics::counter!(
        "grpc_server_handled_total",
        "grpc_service" => "unknown",
        "grpc_method" => "unknown",
        "grpc_code" => grpc_code_name(Code::Unimplemented),
    )
    .increment(1);
}

/// Applies a known method's policy and forwards the call.
#[derive(Clone)]
struct Forwarder {
    state: Arc<GatewayState>,
}

impl Service<http::Request<Body>> for Forwarder {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move { Ok(forward(&state, request).await.unwrap_or_else(refusal)) })
    }
}

/// A gRPC "trailers-only" answer (HTTP 200 with `grpc-status` and `grpc-message` headers),
/// which native and grpc-web clients both read.
fn refusal(status: Status) -> http::Response<Body> {
    status.into_http()
}

#[allow(clippy::result_large_err)]
async fn forward(
    state: &GatewayState,
    mut request: http::Request<Body>,
) -> Result<http::Response<Body>, Status> {
    let Some(route) = request.extensions_mut().remove::<Arc<MethodRoute>>() else {
        return Err(Status::internal("the call was not routed"));
    };

    // Fail closed: a method without a declared policy is open to nobody.
    let Some(access) = route.policy.access else {
        tracing::warn!(
            service = route.service,
            method = route.method,
            "refused a method without an access policy"
        );
        return Err(Status::permission_denied(
            "this method declares no access policy, so the gateway does not expose it",
        ));
    };

    let client = client_address(state, &request);
    if route.policy.rate_limited
        && let Some(client) = client
        && let Err(wait) = state.rate_limiter.check(client)
    {
        tracing::info!(%client, method = route.method, "rate limited");
        return Err(Status::resource_exhausted(format!(
            "too many calls from your address, try again in {} s",
            wait.as_secs().max(1)
        )));
    }

    // On a protected method a bad token is refused. On a public method it is dropped and the
    // call goes on anonymously: a client that attaches its (perhaps expired) access token to
    // every call must still be able to refresh or sign in again.
    let token = bearer_token(request.headers()).map(|token| token.map(str::to_owned));
    let verified = match token {
        Ok(None) => Ok(None),
        Ok(Some(token)) => state.verifier.verify(&token).await.map(Some),
        Err(error) => Err(error),
    };
    let claims = match verified {
        Ok(claims) => claims,
        Err(_) if access == Access::Public => {
            request.headers_mut().remove(http::header::AUTHORIZATION);
            None
        }
        Err(error) => return Err(error.into()),
    };
    access.check(claims.as_ref())?;

    prepare_forwarded_headers(&mut request, client);
    let oversized = OversizedFlag::default();
    let request = request.map(|body| {
        Body::new(MessageSizeLimit::new(
            body,
            state.max_message_bytes,
            oversized.clone(),
        ))
    });
    let response = route
        .upstream
        .clone()
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    if oversized.is_set() {
        return Err(oversized_status(state.max_message_bytes));
    }
    Ok(response)
}

fn client_address(state: &GatewayState, request: &http::Request<Body>) -> Option<IpAddr> {
    let peer = request
        .extensions()
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)?;
    Some(
        state
            .client_addresses
            .resolve(peer.ip(), request.headers().get_all(FORWARDED_FOR).iter()),
    )
}

fn prepare_forwarded_headers(request: &mut http::Request<Body>, client: Option<IpAddr>) {
    let headers = request.headers_mut();
    for name in &HOP_BY_HOP_HEADERS {
        headers.remove(name);
    }
    // Services take the first hop as the client; only the gateway's word counts.
    headers.remove(FORWARDED_FOR);
    if let Some(client) = client {
        let mut buffer = [0u8; 45];
        let text = format_ip(client, &mut buffer);
        if let Ok(value) = HeaderValue::from_str(text) {
            headers.insert(FORWARDED_FOR, value);
        }
    }
    // gRPC is HTTP/2; grpc-web calls arrive as HTTP/1.1 and go on as HTTP/2.
    *request.version_mut() = http::Version::HTTP_2;
}

/// Formats `address` into `buffer` without allocating.
fn format_ip(address: IpAddr, buffer: &mut [u8; 45]) -> &str {
    use std::io::Write as _;
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    let _ = write!(cursor, "{address}");
    let written = usize::try_from(cursor.position()).unwrap_or(0);
    std::str::from_utf8(&buffer[..written]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use gigmesh_auth::Access;

    use super::*;

    fn state_with(policy: MethodPolicy) -> GatewayState {
        let upstream =
            UpstreamService::new(tower::service_fn(|_request: http::Request<Body>| async {
                Ok::<_, Infallible>(http::Response::new(Body::empty()))
            }));
        let route = MethodRoute {
            service: "gigmesh.test.v1.TestService".to_owned(),
            method: "Call".to_owned(),
            policy,
            upstream,
        };
        GatewayState {
            methods: HashMap::from([(
                "/gigmesh.test.v1.TestService/Call".to_owned(),
                Arc::new(route),
            )]),
            known_services: HashMap::from([("gigmesh.test.v1.TestService".to_owned(), true)]),
            verifier: TokenVerifier::from_jwks(Vec::new()),
            rate_limiter: ClientRateLimiter::new(60, 10, 100),
            client_addresses: ClientAddressResolver::default(),
            max_message_bytes: 1024,
        }
    }

    async fn call(state: GatewayState) -> http::Response<Body> {
        let state = Arc::new(state);
        let mut service = GatewayService::new(state, Routes::default());
        let request = http::Request::post("/gigmesh.test.v1.TestService/Call")
            .body(Body::empty())
            .expect("request");
        service
            .call(request)
            .await
            .unwrap_or_else(|never| match never {})
    }

    fn grpc_status(response: &http::Response<Body>) -> Option<&str> {
        response
            .headers()
            .get("grpc-status")
            .and_then(|value| value.to_str().ok())
    }

    #[tokio::test]
    async fn methods_without_a_policy_are_refused() {
        let response = call(state_with(MethodPolicy {
            access: None,
            rate_limited: false,
        }))
        .await;
        assert_eq!(grpc_status(&response), Some("7"));
        assert!(response.headers().contains_key(REQUEST_ID));
    }

    #[tokio::test]
    async fn methods_with_a_policy_are_forwarded() {
        let response = call(state_with(MethodPolicy {
            access: Some(Access::Public),
            rate_limited: true,
        }))
        .await;
        assert_eq!(grpc_status(&response), None, "the upstream answered");
        assert_eq!(response.status(), http::StatusCode::OK);
    }

    #[test]
    fn request_ids_are_kept_when_sane() {
        let mut headers = http::HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&headers), "abc-123");
        headers.insert(REQUEST_ID, HeaderValue::from_static("has space"));
        assert_ne!(request_id(&headers), "has space");
        let generated = request_id(&http::HeaderMap::new());
        assert!(uuid::Uuid::parse_str(generated.to_str().expect("ascii")).is_ok());
    }

    #[test]
    fn formats_addresses() {
        let mut buffer = [0u8; 45];
        assert_eq!(
            format_ip("192.0.2.1".parse().expect("ip"), &mut buffer),
            "192.0.2.1"
        );
        let longest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
        let mut buffer = [0u8; 45];
        let formatted = format_ip(longest.parse().expect("ip"), &mut buffer).to_owned();
        assert_eq!(
            formatted.parse::<IpAddr>().expect("ip"),
            longest.parse::<IpAddr>().expect("ip")
        );
    }
}
