//! gRPC health and server reflection (v1 and v1alpha), answered by the gateway itself.

use gigmesh_gateway::GatewayConfig;

use crate::support::{
    AUTH_SERVICE, GrpcWebFormat, USER_SERVICE, UpstreamKind, grpc_web_call, start,
};

#[tokio::test]
async fn reflection_lists_every_service() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let mesh = start(GatewayConfig::default(), UpstreamKind::InProcess).await;
    let mut client = ServerReflectionClient::new(mesh.channel().await);
    let requests = vec![
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "gigmesh.auth.v1.AuthService".to_owned(),
            )),
        },
    ];
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();

    let listed = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = listed.message_response else {
        panic!("not a service list: {listed:?}");
    };
    let names: Vec<String> = list
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    for expected in [AUTH_SERVICE, USER_SERVICE, "grpc.health.v1.Health"] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} missing from {names:?}"
        );
    }

    let file = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::FileDescriptorResponse(files)) = file.message_response else {
        panic!("not a file descriptor: {file:?}");
    };
    assert!(!files.file_descriptor_proto.is_empty());

    // grpcurl and older tools still speak v1alpha.
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as AlphaClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaRequest;
    let mut alpha = AlphaClient::new(mesh.channel().await);
    let mut responses = alpha
        .server_reflection_info(tokio_stream::iter(vec![
            tonic_reflection::pb::v1alpha::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(AlphaRequest::ListServices(String::new())),
            },
        ]))
        .await
        .unwrap()
        .into_inner();
    assert!(responses.message().await.unwrap().is_some());
}

#[tokio::test]
async fn health_reports_serving_overall_and_per_service() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let mesh = start(GatewayConfig::default(), UpstreamKind::InProcess).await;
    let mut client = HealthClient::new(mesh.channel().await);
    for service in ["", AUTH_SERVICE, USER_SERVICE] {
        let response = client
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap();
        assert_eq!(
            response.into_inner().status,
            ServingStatus::Serving as i32,
            "{service:?}"
        );
    }
    let reply = grpc_web_call(
        mesh.address,
        "/grpc.health.v1.Health/Check",
        &HealthCheckRequest::default(),
        &[],
        GrpcWebFormat::Binary,
    )
    .await;
    assert_eq!(reply.grpc_status, Some(0), "{reply:?}");
}
