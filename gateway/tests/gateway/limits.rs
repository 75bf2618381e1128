//! Limits: per-client rate limits on the methods that declare one, and the message size cap.

use gigmesh_gateway::GatewayConfig;
use gigmesh_proto::auth;
use tonic::Code;

use crate::support::{
    BOTH_KINDS, GrpcWebFormat, SIGN_UP, UpstreamKind, grpc_web_call, sign_up_request, start,
    with_header,
};

#[tokio::test]
async fn rate_limited_methods_are_limited_per_client_address() {
    let config = GatewayConfig {
        rate_limit_per_minute: 1,
        rate_limit_burst: 2,
        ..GatewayConfig::default()
    };
    let mesh = start(config, UpstreamKind::InProcess).await;
    let mut client = mesh.auth().await;
    client.sign_up(sign_up_request()).await.unwrap();
    let reply = mesh.grpc_web_sign_up().await;
    assert_eq!(reply.grpc_status, Some(0));
    let status = client.sign_up(sign_up_request()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status.message().starts_with("too many calls"),
        "{}",
        status.message()
    );
    let status = client
        .log_in(auth::LogInRequest::default())
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "the bucket is per client, not per method"
    );
    let reply = mesh.grpc_web_sign_up().await;
    assert_eq!(reply.grpc_status, Some(Code::ResourceExhausted as i32));
    // Methods without the option are not limited.
    for _ in 0..5 {
        client.get_jwks(auth::GetJwksRequest {}).await.unwrap();
    }
    assert_eq!(mesh.seen.count("SignUp"), 2);
}

#[tokio::test]
async fn oversized_messages_are_refused() {
    for kind in BOTH_KINDS {
        let config = GatewayConfig {
            max_message_bytes: 1024,
            ..GatewayConfig::default()
        };
        let mesh = start(config, kind).await;
        let mut client = mesh.auth().await;
        let oversized = auth::SignUpRequest {
            password: "x".repeat(4000),
            ..sign_up_request()
        };
        let status = client.sign_up(oversized.clone()).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::ResourceExhausted,
            "{kind:?}: {status:?}"
        );
        assert!(
            status.message().contains("1024 bytes"),
            "{}",
            status.message()
        );

        let reply = grpc_web_call(
            mesh.address,
            SIGN_UP,
            &oversized,
            &[],
            GrpcWebFormat::Binary,
        )
        .await;
        assert_eq!(
            reply.grpc_status,
            Some(Code::ResourceExhausted as i32),
            "{kind:?}: {reply:?}"
        );

        client.sign_up(sign_up_request()).await.unwrap();
        assert_eq!(mesh.seen.count("SignUp"), 1);
    }
}

/// Ada's sign-up as a trusted proxy relays it for `client`.
fn sign_up_from(client: &str) -> tonic::Request<auth::SignUpRequest> {
    with_header(sign_up_request(), "x-forwarded-for", client)
}

/// A gateway behind a proxy on loopback, allowing one limited call per client at a time.
fn one_call_per_client() -> GatewayConfig {
    GatewayConfig {
        trusted_proxies: vec!["127.0.0.0/8".to_owned()],
        rate_limit_per_minute: 1,
        rate_limit_burst: 1,
        ..GatewayConfig::default()
    }
}

#[tokio::test]
async fn ipv6_clients_are_limited_per_64_network() {
    let mesh = start(one_call_per_client(), UpstreamKind::InProcess).await;
    let mut client = mesh.auth().await;
    client
        .sign_up(sign_up_from("2001:db8:1:2::1"))
        .await
        .unwrap();
    let status = client
        .sign_up(sign_up_from("2001:db8:1:2:ffff::9"))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "one /64 shares one budget"
    );
    client
        .sign_up(sign_up_from("2001:db8:1:3::1"))
        .await
        .unwrap();

    // IPv4 stays per address, and an IPv4-mapped IPv6 address is its IPv4 address.
    client.sign_up(sign_up_from("192.0.2.1")).await.unwrap();
    let status = client
        .sign_up(sign_up_from("::ffff:192.0.2.1"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    client.sign_up(sign_up_from("192.0.2.2")).await.unwrap();
    assert_eq!(mesh.seen.count("SignUp"), 4);
}

#[tokio::test]
async fn new_clients_are_refused_while_the_limiter_is_full() {
    let config = GatewayConfig {
        rate_limit_burst: 2,
        rate_limit_max_tracked_clients: 2,
        ..one_call_per_client()
    };
    let mesh = start(config, UpstreamKind::InProcess).await;
    let mut client = mesh.auth().await;
    client
        .sign_up(sign_up_from("2001:db8:1:1::1"))
        .await
        .unwrap();
    client.sign_up(sign_up_from("198.51.100.7")).await.unwrap();
    let status = client
        .sign_up(sign_up_from("2001:db8:1:2::1"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    // The clients already tracked keep their budgets.
    client
        .sign_up(sign_up_from("2001:db8:1:1::2"))
        .await
        .unwrap();
    assert_eq!(mesh.seen.count("SignUp"), 3);
}
