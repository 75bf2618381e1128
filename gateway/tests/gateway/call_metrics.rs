//! Metrics: every call is counted and timed by service, method and code, with unknown
//! paths under one label.

use gigmesh_gateway::GatewayConfig;
use gigmesh_proto::auth;

use crate::support::{GrpcWebFormat, UpstreamKind, grpc_web_call, sign_up_request, start};

#[tokio::test]
async fn every_call_is_counted_and_timed() {
    let handle = gigmesh_telemetry::prometheus();
    let mesh = start(GatewayConfig::default(), UpstreamKind::InProcess).await;
    let mut client = mesh.auth().await;
    client.sign_up(sign_up_request()).await.unwrap();
    client
        .get_my_account(auth::GetMyAccountRequest {})
        .await
        .unwrap_err();
    let _ = mesh.grpc_web_sign_up().await;
    let _ = grpc_web_call(
        mesh.address,
        "/made.up.Service/Path",
        &sign_up_request(),
        &[],
        GrpcWebFormat::Binary,
    )
    .await;

    let rendered = handle.render();
    for expected in [
        r#"grpc_server_handled_total{grpc_service="gigmesh.auth.v1.AuthService",grpc_method="SignUp",grpc_code="OK"} 2"#,
        r#"grpc_server_handled_total{grpc_service="gigmesh.auth.v1.AuthService",grpc_method="GetMyAccount",grpc_code="Unauthenticated"} 1"#,
        r#"grpc_server_handled_total{grpc_service="unknown",grpc_method="unknown",grpc_code="Unimplemented"} 1"#,
        r#"grpc_server_handling_seconds_count{grpc_service="gigmesh.auth.v1.AuthService",grpc_method="SignUp"} 2"#,
    ] {
        assert!(rendered.contains(expected), "{expected} not in\n{rendered}");
    }
    assert!(
        !rendered.contains("made.up.Service"),
        "client-chosen paths became labels"
    );
}
