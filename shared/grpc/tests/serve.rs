//! `serve` end to end on a real port: health and reflection answer, every call is counted,
//! and the caller layer refuses invalid tokens while letting anonymous calls through.

#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test

use std::time::Duration;

use gigmesh_auth::{Claims, Role, SigningKey, TokenSigner, TokenVerifier};
use gigmesh_grpc::{ServeOptions, serve, with_caller};
use gigmesh_proto::users;
use gigmesh_proto::users::user_service_client::UserServiceClient;
use gigmesh_proto::users::user_service_server::{UserService, UserServiceServer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataValue;
use tonic::service::Routes;
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

struct Served {
    channel: tonic::transport::Channel,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Answers GetMyProfile with the caller's user id; everything else is unimplemented.
struct Probe;

#[tonic::async_trait]
impl UserService for Probe {
    async fn get_my_profile(
        &self,
        request: tonic::Request<users::GetMyProfileRequest>,
    ) -> Result<tonic::Response<users::Profile>, Status> {
        let caller = gigmesh_grpc::Caller::of(&request)?;
        Ok(tonic::Response::new(users::Profile {
            user_id: caller.user_id().to_string(),
            ..Default::default()
        }))
    }
    async fn update_my_profile(
        &self,
        _: tonic::Request<users::UpdateMyProfileRequest>,
    ) -> Result<tonic::Response<users::Profile>, Status> {
        Err(Status::unimplemented("probe"))
    }
    async fn become_seller(
        &self,
        _: tonic::Request<users::BecomeSellerRequest>,
    ) -> Result<tonic::Response<users::Profile>, Status> {
        Err(Status::unimplemented("probe"))
    }
    async fn update_my_seller_profile(
        &self,
        _: tonic::Request<users::UpdateMySellerProfileRequest>,
    ) -> Result<tonic::Response<users::Profile>, Status> {
        Err(Status::unimplemented("probe"))
    }
    async fn get_public_profile(
        &self,
        _: tonic::Request<users::GetPublicProfileRequest>,
    ) -> Result<tonic::Response<users::PublicProfile>, Status> {
        Ok(tonic::Response::new(users::PublicProfile::default()))
    }
}

async fn serve_probe_behind_caller_layer(verifier: TokenVerifier) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let routes = with_caller(Routes::new(UserServiceServer::new(Probe)), verifier);
    let options = ServeOptions {
        service_names: vec!["gigmesh.users.v1.UserService".to_owned()],
        ..ServeOptions::default()
    };
    let server = tokio::spawn(serve(listener, routes, options, shutdown.clone()));
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Served {
        channel,
        shutdown,
        server,
    }
}

fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

#[tokio::test]
async fn anonymous_and_valid_tokens_pass_invalid_tokens_are_refused() {
    // The process-wide recorder, as `gigmesh_telemetry::init` installs it before serving.
    gigmesh_telemetry::prometheus();
    let key = SigningKey::generate();
    let verifier = TokenVerifier::from_jwks([key.public_jwk()]);
    let signer = TokenSigner::new(&key).unwrap();
    let served = serve_probe_behind_caller_layer(verifier).await;
    let mut health = HealthClient::new(served.channel.clone());
    let serving = health
        .check(HealthCheckRequest {
            service: "gigmesh.users.v1.UserService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let mut client = UserServiceClient::new(served.channel.clone());
    let anonymous = client
        .get_public_profile(users::GetPublicProfileRequest::default())
        .await;
    assert!(anonymous.is_ok(), "{anonymous:?}");
    let needs_caller = client
        .get_my_profile(users::GetMyProfileRequest {})
        .await
        .unwrap_err();
    assert_eq!(needs_caller.code(), Code::Unauthenticated);

    const USER_ID: &str = "0192f0c1-5a7e-7c3e-9a4b-1d2e3f405162";
    let claims = Claims::new(
        USER_ID,
        "0192f0c1-5a7e-7c3e-9a4b-1d2e3f405163",
        &[Role::Buyer],
        Duration::from_secs(60),
    );
    let token = signer.sign(&claims).unwrap();
    let signed_in = client
        .get_my_profile(with_token(users::GetMyProfileRequest {}, &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(signed_in.user_id, USER_ID);

    let forged = TokenSigner::new(&SigningKey::generate())
        .unwrap()
        .sign(&claims)
        .unwrap();
    let refused = client
        .get_my_profile(with_token(users::GetMyProfileRequest {}, &forged))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    let garbage = client
        .get_my_profile(with_token(users::GetMyProfileRequest {}, "garbage"))
        .await
        .unwrap_err();
    assert_eq!(garbage.code(), Code::Unauthenticated);

    let rendered = gigmesh_telemetry::prometheus().render();
    assert!(
        rendered.contains("grpc_server_handled_total{grpc_service=\"gigmesh.users.v1.UserService\",grpc_method=\"GetMyProfile\",grpc_code=\"OK\"}"),
        "{rendered}"
    );
    assert!(
        rendered.contains("grpc_code=\"Unauthenticated\""),
        "{rendered}"
    );
    assert!(
        rendered.contains("grpc_server_handling_seconds_bucket"),
        "{rendered}"
    );

    served.shutdown.cancel();
    served.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn reflection_lists_the_services_served() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let served = serve_probe_behind_caller_layer(TokenVerifier::from_jwks([])).await;
    let mut client = ServerReflectionClient::new(served.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let names: Vec<_> = list
        .service
        .iter()
        .map(|service| service.name.as_str())
        .collect();
    let mut names = names;
    names.sort_unstable();
    // The probe serves UserService only: AuthService, whose contract is in the same
    // descriptor set, is not advertised.
    assert_eq!(
        names,
        [
            "gigmesh.users.v1.UserService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ]
    );

    served.shutdown.cancel();
    served.server.await.unwrap().unwrap();
}
