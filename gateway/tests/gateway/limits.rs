//! Limits: per-client rate limits on the methods that declare one, and the message size cap.

use gigmesh_gateway::GatewayConfig;
use gigmesh_proto::auth;
use tonic::Code;

use crate::support::{
    BOTH_KINDS, GrpcWebFormat, SIGN_UP, UpstreamKind, grpc_web_call, sign_up_request, start,
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
