//! The gateway in front of fake auth and users services, called with native gRPC and with
//! grpc-web over HTTP/1.1, with the services in process and behind a channel.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use gigmesh_auth::{Role, SigningKey, TokenSigner};
use gigmesh_gateway::{Gateway, GatewayConfig, Upstream};
use gigmesh_proto::auth;
use gigmesh_proto::users;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prost::Message as _;
use support::{
    AUTH_SERVICE, BOTH_KINDS, GrpcWebFormat, Mesh, SLOW_CALL, USER_SERVICE, UpstreamKind,
    grpc_web_call, start, with_header, with_token,
};
use tonic::Code;

const SIGN_UP: &str = "/gigmesh.auth.v1.AuthService/SignUp";
const GET_MY_ACCOUNT: &str = "/gigmesh.auth.v1.AuthService/GetMyAccount";
const SUSPEND_ACCOUNT: &str = "/gigmesh.auth.v1.AuthService/SuspendAccount";

fn sign_up_request() -> auth::SignUpRequest {
    auth::SignUpRequest {
        email: "ada@example.com".to_owned(),
        username: "ada".to_owned(),
        password: "correct horse battery staple".to_owned(),
    }
}

async fn my_account_code(mesh: &Mesh, authorization: Option<&str>) -> Code {
    let mut client = mesh.auth().await;
    let request = match authorization {
        Some(value) => with_header(auth::GetMyAccountRequest {}, "authorization", value),
        None => tonic::Request::new(auth::GetMyAccountRequest {}),
    };
    match client.get_my_account(request).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

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
async fn protected_calls_need_a_valid_token() {
    for kind in BOTH_KINDS {
        let mesh = start(GatewayConfig::default(), kind).await;
        let buyer = mesh.token(&[Role::Buyer]);

        assert_eq!(
            my_account_code(&mesh, None).await,
            Code::Unauthenticated,
            "{kind:?}"
        );
        assert_eq!(
            my_account_code(&mesh, Some("Bearer not-a-jwt")).await,
            Code::Unauthenticated
        );
        assert_eq!(
            my_account_code(&mesh, Some(&format!("Basic {buyer}"))).await,
            Code::Unauthenticated
        );
        let expired = mesh.expired_token(&[Role::Buyer]);
        assert_eq!(
            my_account_code(&mesh, Some(&format!("Bearer {expired}"))).await,
            Code::Unauthenticated
        );

        // Signed by another key that claims the trusted key's id.
        let forger = SigningKey::generate();
        let impostor =
            SigningKey::from_pkcs8_der(mesh.key.kid(), &forger.to_pkcs8_der().unwrap()).unwrap();
        let forged = TokenSigner::new(&impostor)
            .unwrap()
            .sign(&gigmesh_auth::Claims::new(
                "user-1",
                "s",
                &[Role::Admin],
                Duration::from_secs(900),
            ))
            .unwrap();
        assert_eq!(
            my_account_code(&mesh, Some(&format!("Bearer {forged}"))).await,
            Code::Unauthenticated
        );

        // Signed by a key auth never published.
        let stranger = TokenSigner::new(&SigningKey::generate())
            .unwrap()
            .sign(&gigmesh_auth::Claims::new(
                "user-1",
                "s",
                &[Role::Buyer],
                Duration::from_secs(900),
            ))
            .unwrap();
        assert_eq!(
            my_account_code(&mesh, Some(&format!("Bearer {stranger}"))).await,
            Code::Unauthenticated
        );

        // Tampered: another payload under the real signature.
        let other = mesh.token(&[Role::Buyer, Role::Admin]);
        let mut parts: Vec<&str> = buyer.split('.').collect();
        parts[1] = other.split('.').nth(1).unwrap();
        let tampered = parts.join(".");
        assert_eq!(
            my_account_code(&mesh, Some(&format!("Bearer {tampered}"))).await,
            Code::Unauthenticated
        );

        assert_eq!(
            my_account_code(&mesh, Some(&format!("Bearer {buyer}"))).await,
            Code::Ok
        );
        assert_eq!(
            mesh.seen.count("GetMyAccount"),
            1,
            "{kind:?}: refused calls reached the service"
        );

        let status = mesh
            .auth()
            .await
            .get_my_account(auth::GetMyAccountRequest {})
            .await
            .unwrap_err();
        assert_eq!(
            status.message(),
            "sign in first: this call needs an access token"
        );

        for format in [GrpcWebFormat::Binary, GrpcWebFormat::Text] {
            let reply = grpc_web_call(
                mesh.address,
                GET_MY_ACCOUNT,
                &auth::GetMyAccountRequest {},
                &[],
                format,
            )
            .await;
            assert_eq!(reply.http_status, http::StatusCode::OK);
            assert_eq!(
                reply.grpc_status,
                Some(Code::Unauthenticated as i32),
                "{reply:?}"
            );
            let reply = grpc_web_call(
                mesh.address,
                GET_MY_ACCOUNT,
                &auth::GetMyAccountRequest {},
                &[("authorization", &format!("Bearer {buyer}"))],
                format,
            )
            .await;
            assert_eq!(reply.grpc_status, Some(0), "{reply:?}");
            assert_eq!(
                auth::Account::decode(reply.messages[0].clone()).unwrap().id,
                "me"
            );
        }
    }
}

#[tokio::test]
async fn roles_are_enforced() {
    for kind in BOTH_KINDS {
        let mesh = start(GatewayConfig::default(), kind).await;
        let buyer = mesh.token(&[Role::Buyer]);
        let seller = mesh.token(&[Role::Buyer, Role::Seller]);
        let admin = mesh.token(&[Role::Buyer, Role::Admin]);
        let suspend = || auth::SuspendAccountRequest {
            account_id: "victim".to_owned(),
            reason: "spam".to_owned(),
        };

        let mut auth_client = mesh.auth().await;
        let status = auth_client
            .suspend_account(with_token(suspend(), &buyer))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{kind:?}");
        assert_eq!(status.message(), "this call needs the admin role");
        let status = auth_client.suspend_account(suspend()).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        let account = auth_client
            .suspend_account(with_token(suspend(), &admin))
            .await
            .unwrap();
        assert_eq!(account.into_inner().id, "victim");

        let mut users_client = mesh.users().await;
        let update = || users::UpdateMySellerProfileRequest::default();
        let status = users_client
            .update_my_seller_profile(with_token(update(), &buyer))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        let status = users_client
            .update_my_seller_profile(with_token(update(), &admin))
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::PermissionDenied,
            "admin is not implicitly a seller"
        );
        let profile = users_client
            .update_my_seller_profile(with_token(update(), &seller))
            .await
            .unwrap();
        assert!(profile.into_inner().is_seller);

        let reply = grpc_web_call(
            mesh.address,
            SUSPEND_ACCOUNT,
            &suspend(),
            &[("authorization", &format!("Bearer {buyer}"))],
            GrpcWebFormat::Binary,
        )
        .await;
        assert_eq!(
            reply.grpc_status,
            Some(Code::PermissionDenied as i32),
            "{reply:?}"
        );
        assert_eq!(mesh.seen.count("SuspendAccount"), 1);
        assert_eq!(mesh.seen.count("UpdateMySellerProfile"), 1);
    }
}

#[tokio::test]
async fn a_bad_token_on_a_public_method_is_ignored_but_refused_on_a_protected_one() {
    let mesh = start(GatewayConfig::default(), UpstreamKind::InProcess).await;
    let expired = mesh.expired_token(&[Role::Buyer]);
    // A client that attaches its expired access token to every call can still sign up,
    // sign in or refresh.
    mesh.auth()
        .await
        .sign_up(with_token(sign_up_request(), &expired))
        .await
        .unwrap();
    mesh.auth()
        .await
        .sign_up(with_header(
            sign_up_request(),
            "authorization",
            "Bearer garbage",
        ))
        .await
        .unwrap();
    let buyer = mesh.token(&[Role::Buyer]);
    mesh.auth()
        .await
        .sign_up(with_token(sign_up_request(), &buyer))
        .await
        .unwrap();
    assert_eq!(mesh.seen.count("SignUp"), 3);

    let status = mesh
        .auth()
        .await
        .get_my_account(with_token(auth::GetMyAccountRequest {}, &expired))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("expired"), "{}", status.message());
    assert_eq!(mesh.seen.count("GetMyAccount"), 0);
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
            "/gigmesh.orders.v1.OrderService/PlaceOrder",
            "unknown service gigmesh.orders.v1.OrderService",
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
async fn rate_limited_methods_are_limited_per_client_address() {
    let config = GatewayConfig {
        rate_limit_per_minute: 1,
        rate_limit_burst: 2,
        ..GatewayConfig::default()
    };
    let mesh = start(config, UpstreamKind::InProcess).await;
    let mut client = mesh.auth().await;
    client.sign_up(sign_up_request()).await.unwrap();
    let reply = grpc_web_call(
        mesh.address,
        SIGN_UP,
        &sign_up_request(),
        &[],
        GrpcWebFormat::Binary,
    )
    .await;
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
    let reply = grpc_web_call(
        mesh.address,
        SIGN_UP,
        &sign_up_request(),
        &[],
        GrpcWebFormat::Binary,
    )
    .await;
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

#[tokio::test]
async fn cors_preflight_is_answered_and_statuses_are_exposed() {
    let mesh = start(GatewayConfig::default(), UpstreamKind::InProcess).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let preflight = http::Request::builder()
        .method(http::Method::OPTIONS)
        .uri(format!("http://{}{SIGN_UP}", mesh.address))
        .header("origin", "https://app.gigmesh.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-grpc-web,x-user-agent,authorization",
        )
        .body(Full::default())
        .unwrap();
    let response = client.request(preflight).await.unwrap();
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
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    for (origin, allowed) in [
        ("https://app.gigmesh.example", true),
        ("https://evil.example", false),
    ] {
        let preflight = http::Request::builder()
            .method(http::Method::OPTIONS)
            .uri(format!("http://{}{SIGN_UP}", mesh.address))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .body(Full::default())
            .unwrap();
        let response = client.request(preflight).await.unwrap();
        let echoed = response.headers().get("access-control-allow-origin");
        assert_eq!(echoed.is_some(), allowed, "{origin}");
        if allowed {
            assert_eq!(echoed.unwrap(), origin);
        }
    }
}

#[tokio::test]
async fn calls_carry_request_id_client_address_and_trace_context() {
    for kind in BOTH_KINDS {
        let mesh = start(GatewayConfig::default(), kind).await;
        let buyer = mesh.token(&[Role::Buyer]);
        let mut client = mesh.auth().await;

        // Without a request id, the gateway makes one and echoes it.
        let mut request = with_token(auth::GetMyAccountRequest {}, &buyer);
        request
            .metadata_mut()
            .insert("x-forwarded-for", "6.6.6.6".parse().unwrap());
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        request
            .metadata_mut()
            .insert("traceparent", traceparent.parse().unwrap());
        request
            .metadata_mut()
            .insert("tracestate", "gigmesh=1".parse().unwrap());
        let response = client.get_my_account(request).await.unwrap();
        let echoed = response
            .metadata()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "{echoed}");

        let seen = mesh.seen.last("GetMyAccount").unwrap();
        assert_eq!(
            seen.get("x-request-id").unwrap(),
            echoed.as_str(),
            "{kind:?}"
        );
        assert_eq!(
            seen.get("x-forwarded-for").unwrap(),
            "127.0.0.1",
            "untrusted peers cannot claim an address"
        );
        assert_eq!(
            seen.get("authorization").unwrap(),
            format!("Bearer {buyer}").as_str()
        );
        assert_eq!(seen.get("traceparent").unwrap(), traceparent);
        assert_eq!(seen.get("tracestate").unwrap(), "gigmesh=1");

        // A request id the client chose is kept.
        let response = client
            .sign_up(with_header(
                sign_up_request(),
                "x-request-id",
                "checkout-42",
            ))
            .await
            .unwrap();
        assert_eq!(
            response.metadata().get("x-request-id").unwrap(),
            "checkout-42"
        );
        assert_eq!(
            mesh.seen
                .last("SignUp")
                .unwrap()
                .get("x-request-id")
                .unwrap(),
            "checkout-42"
        );

        // Refusals carry one too, over grpc-web as well.
        let status = client
            .get_my_account(auth::GetMyAccountRequest {})
            .await
            .unwrap_err();
        assert!(status.metadata().get("x-request-id").is_some());
        let reply = grpc_web_call(
            mesh.address,
            GET_MY_ACCOUNT,
            &auth::GetMyAccountRequest {},
            &[],
            GrpcWebFormat::Binary,
        )
        .await;
        assert!(reply.headers.contains_key("x-request-id"));
    }
}

#[tokio::test]
async fn forwarded_for_is_believed_from_trusted_proxies_only() {
    let config = GatewayConfig {
        trusted_proxies: vec!["127.0.0.0/8".to_owned()],
        rate_limit_per_minute: 1,
        rate_limit_burst: 1,
        ..GatewayConfig::default()
    };
    let mesh = start(config, UpstreamKind::InProcess).await;
    let mut client = mesh.auth().await;
    client
        .sign_up(with_header(
            sign_up_request(),
            "x-forwarded-for",
            "6.6.6.6, 198.51.100.7",
        ))
        .await
        .unwrap();
    let seen = mesh.seen.last("SignUp").unwrap();
    assert_eq!(seen.get("x-forwarded-for").unwrap(), "198.51.100.7");

    // The rate limit follows the client behind the proxy, not the proxy.
    let status = client
        .sign_up(with_header(
            sign_up_request(),
            "x-forwarded-for",
            "198.51.100.7",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    client
        .sign_up(with_header(
            sign_up_request(),
            "x-forwarded-for",
            "198.51.100.8",
        ))
        .await
        .unwrap();
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

    let mut client = support::AuthServiceClient::connect(format!("http://{gateway_address}"))
        .await
        .unwrap();
    let status = client.get_jwks(auth::GetJwksRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    // A service the gateway does not route is unimplemented, not unavailable.
    let mut users_client = support::UserServiceClient::connect(format!("http://{gateway_address}"))
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
async fn every_call_is_counted_and_timed() {
    let handle = gigmesh_telemetry::prometheus();
    let mesh = start(GatewayConfig::default(), UpstreamKind::InProcess).await;
    let mut client = mesh.auth().await;
    client.sign_up(sign_up_request()).await.unwrap();
    client
        .get_my_account(auth::GetMyAccountRequest {})
        .await
        .unwrap_err();
    let _ = grpc_web_call(
        mesh.address,
        SIGN_UP,
        &sign_up_request(),
        &[],
        GrpcWebFormat::Binary,
    )
    .await;
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
