//! Routing: public calls reach the owning service over native gRPC and grpc-web, unknown
//! methods and services are unimplemented, and an unreachable upstream is unavailable.

use gigmesh_auth::SigningKey;
use gigmesh_gateway::{Gateway, GatewayConfig, Upstream};
use gigmesh_proto::{auth, users};
use prost::Message as _;
use tonic::Code;

use crate::support::{
    AUTH_SERVICE, AuthServiceClient, BOTH_KINDS, GrpcWebFormat, SIGN_UP, UpstreamKind,
    UserServiceClient, grpc_web_call, sign_up_request, start,
};

#[tokio::test]
async fn public_calls_pass_natively_and_over_grpc_web() {
    for kind in BOTH_KINDS {
        let mesh = start(GatewayConfig::default(), kind).await;

        let response = mesh.auth().await.sign_up(sign_up_request()).await.unwrap();
        let account = response.into_inner().account.unwrap();
        assert_eq!(account.email, "ada@example.com", "{kind:?}");

        let profile = mesh
            .users()
            .await
            .get_public_profile(users::GetPublicProfileRequest {
                user: Some(users::get_public_profile_request::User::Username(
                    "ada".to_owned(),
                )),
            })
            .await
            .unwrap();
        assert_eq!(profile.into_inner().username, "ada");

        for format in [GrpcWebFormat::Binary, GrpcWebFormat::Text] {
            let reply = grpc_web_call(mesh.address, SIGN_UP, &sign_up_request(), &[], format).await;
            assert_eq!(reply.http_status, http::StatusCode::OK);
            assert_eq!(reply.grpc_status, Some(0), "{kind:?} {format:?}: {reply:?}");
            assert_eq!(reply.messages.len(), 1);
            let decoded = auth::SignUpResponse::decode(reply.messages[0].clone()).unwrap();
            assert_eq!(decoded.account.unwrap().username, "ada");
        }
        assert_eq!(mesh.seen.count("SignUp"), 3);
    }
}

#[tokio::test]
async fn unknown_methods_and_services_are_unimplemented() {
    let mesh = start(GatewayConfig::default(), UpstreamKind::InProcess).await;
    let channel = mesh.channel().await;
    for (path, expected_message) in [
        (
            "/gigmesh.auth.v1.AuthService/Nope",
            "gigmesh.auth.v1.AuthService has no method Nope",
        ),
        (
            "/gigmesh.barter.v1.BarterService/Swap",
            "unknown service gigmesh.barter.v1.BarterService",
        ),
        ("/not-grpc", "unknown service unknown"),
        (
            "/grpc.health.v1.Health/Nope",
            "grpc.health.v1.Health has no method Nope",
        ),
    ] {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.unwrap();
        let codec =
            tonic_prost::ProstCodec::<auth::GetJwksRequest, auth::GetJwksResponse>::default();
        let status = grpc
            .unary(
                tonic::Request::new(auth::GetJwksRequest {}),
                http::uri::PathAndQuery::from_static(path),
                codec,
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented, "{path}");
        assert_eq!(status.message(), expected_message);

        let reply = grpc_web_call(
            mesh.address,
            path,
            &auth::GetJwksRequest {},
            &[],
            GrpcWebFormat::Binary,
        )
        .await;
        assert_eq!(reply.http_status, http::StatusCode::OK);
        assert_eq!(
            reply.grpc_status,
            Some(Code::Unimplemented as i32),
            "{path}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_upstream_is_unavailable() {
    // A port that was free a moment ago.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_lazy();
    let key = SigningKey::generate();
    let gateway = Gateway::new(
        GatewayConfig::default(),
        gigmesh_auth::TokenVerifier::from_jwks(vec![key.public_jwk()]),
        vec![(AUTH_SERVICE.to_owned(), Upstream::channel(channel))],
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway_address = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(gateway.serve(listener, shutdown.clone()));

    let mut client = AuthServiceClient::connect(format!("http://{gateway_address}"))
        .await
        .unwrap();
    let status = client.get_jwks(auth::GetJwksRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    // A service the gateway does not route is unimplemented, not unavailable.
    let mut users_client = UserServiceClient::connect(format!("http://{gateway_address}"))
        .await
        .unwrap();
    let status = users_client
        .get_public_profile(users::GetPublicProfileRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(
        status.message(),
        "gigmesh.users.v1.UserService is not served here"
    );
    shutdown.cancel();
}
