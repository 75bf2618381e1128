//! CORS for browsers: preflights are answered, grpc-web statuses are exposed, and only the
//! listed origins are allowed when a list is configured.

use gigmesh_gateway::GatewayConfig;
use gigmesh_proto::auth;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tonic::Code;

use crate::support::{
    GET_MY_ACCOUNT, GrpcWebFormat, Mesh, SIGN_UP, UpstreamKind, grpc_web_call, start,
};

/// A browser's preflight before a POST to SignUp from `origin`, asking to send
/// `request_headers` when given.
async fn preflight(
    mesh: &Mesh,
    origin: &str,
    request_headers: Option<&str>,
) -> http::Response<hyper::body::Incoming> {
    let mut preflight = http::Request::builder()
        .method(http::Method::OPTIONS)
        .uri(format!("http://{}{SIGN_UP}", mesh.address))
        .header("origin", origin)
        .header("access-control-request-method", "POST");
    if let Some(names) = request_headers {
        preflight = preflight.header("access-control-request-headers", names);
    }
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    client
        .request(preflight.body(Full::default()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_preflight_is_answered_and_statuses_are_exposed() {
    let mesh = start(GatewayConfig::default(), UpstreamKind::InProcess).await;
    let response = preflight(
        &mesh,
        "https://app.gigmesh.example",
        Some("content-type,x-grpc-web,x-user-agent,authorization"),
    )
    .await;
    assert_eq!(response.status(), http::StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    for name in [
        "content-type",
        "x-grpc-web",
        "x-user-agent",
        "authorization",
    ] {
        assert!(allowed.contains(name), "{name} not in {allowed}");
    }
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(headers.contains_key("access-control-max-age"));
    let _ = response.into_body().collect().await.unwrap();

    let reply = grpc_web_call(
        mesh.address,
        GET_MY_ACCOUNT,
        &auth::GetMyAccountRequest {},
        &[("origin", "https://app.gigmesh.example")],
        GrpcWebFormat::Binary,
    )
    .await;
    assert_eq!(reply.grpc_status, Some(Code::Unauthenticated as i32));
    assert_eq!(reply.headers["access-control-allow-origin"], "*");
    let exposed = reply.headers["access-control-expose-headers"]
        .to_str()
        .unwrap();
    for name in [
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "x-request-id",
    ] {
        assert!(exposed.contains(name), "{name} not in {exposed}");
    }
}

#[tokio::test]
async fn cors_refuses_origins_that_are_not_listed() {
    let config = GatewayConfig {
        cors_allowed_origins: vec!["https://app.gigmesh.example".to_owned()],
        ..GatewayConfig::default()
    };
    let mesh = start(config, UpstreamKind::InProcess).await;
    for (origin, allowed) in [
        ("https://app.gigmesh.example", true),
        ("https://evil.example", false),
    ] {
        let response = preflight(&mesh, origin, None).await;
        let echoed = response.headers().get("access-control-allow-origin");
        assert_eq!(echoed.is_some(), allowed, "{origin}");
        if allowed {
            assert_eq!(echoed.unwrap(), origin);
        }
    }
}
