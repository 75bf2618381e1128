//! The gateway's lifecycle: it refuses a bad configuration or route before serving, and on
//! shutdown drains the calls in flight before it stops accepting.

use std::time::Duration;

use gigmesh_auth::Role;
use gigmesh_gateway::{Gateway, GatewayConfig, Upstream};
use gigmesh_proto::auth;

use crate::support::{AUTH_SERVICE, SLOW_CALL, UpstreamKind, start, with_token};

#[tokio::test]
async fn gateway_refuses_to_start_with_a_bad_configuration_or_route() {
    let verifier = || gigmesh_auth::TokenVerifier::from_jwks(Vec::new());
    let routes = || tonic::service::Routes::default();

    let invalid = GatewayConfig {
        rate_limit_burst: 0,
        ..GatewayConfig::default()
    };
    let error = Gateway::new(invalid, verifier(), Vec::new()).unwrap_err();
    assert!(error.to_string().contains("rate_limit_burst"), "{error}");

    let error = Gateway::new(
        GatewayConfig::default(),
        verifier(),
        vec![(
            "gigmesh.nope.v1.NopeService".to_owned(),
            Upstream::in_process(routes()),
        )],
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("gigmesh.nope.v1.NopeService"),
        "{error}"
    );

    let error = Gateway::new(
        GatewayConfig::default(),
        verifier(),
        vec![
            (AUTH_SERVICE.to_owned(), Upstream::in_process(routes())),
            (AUTH_SERVICE.to_owned(), Upstream::in_process(routes())),
        ],
    )
    .unwrap_err();
    assert!(error.to_string().contains("two upstreams"), "{error}");
}

#[tokio::test]
async fn shutdown_drains_calls_in_flight() {
    let mesh = start(GatewayConfig::default(), UpstreamKind::InProcess).await;
    let buyer = mesh.token(&[Role::Buyer]);
    let mut client = mesh.auth().await;
    let slow_call = tokio::spawn(async move {
        client
            .list_sessions(with_token(auth::ListSessionsRequest::default(), &buyer))
            .await
    });
    // Wait until the call reached the service, then stop the gateway.
    while mesh.seen.count("ListSessions") == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    mesh.shutdown.cancel();
    let response = slow_call.await.unwrap();
    assert!(
        response.is_ok(),
        "the call in flight was cut off: {response:?}"
    );

    let mut mesh = mesh;
    let stopped = tokio::time::timeout(SLOW_CALL * 5, &mut mesh.gateway).await;
    stopped
        .expect("the gateway stops once drained")
        .unwrap()
        .unwrap();
    let refused = tokio::net::TcpStream::connect(mesh.address).await;
    assert!(refused.is_err(), "the gateway still accepts connections");
}
