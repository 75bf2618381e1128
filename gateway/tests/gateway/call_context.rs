//! What a forwarded call carries to the service: a request id, the client address (believed
//! from trusted proxies only), the token and the trace context.

use gigmesh_auth::Role;
use gigmesh_gateway::GatewayConfig;
use gigmesh_proto::auth;
use tonic::Code;

use crate::support::{
    BOTH_KINDS, GET_MY_ACCOUNT, GrpcWebFormat, UpstreamKind, grpc_web_call, sign_up_request, start,
    with_header, with_token,
};

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

/// Ada's sign-up as a proxy relays it, naming `addresses` in `x-forwarded-for`.
fn sign_up_forwarded_for(addresses: &str) -> tonic::Request<auth::SignUpRequest> {
    with_header(sign_up_request(), "x-forwarded-for", addresses)
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
        .sign_up(sign_up_forwarded_for("6.6.6.6, 198.51.100.7"))
        .await
        .unwrap();
    let seen = mesh.seen.last("SignUp").unwrap();
    assert_eq!(seen.get("x-forwarded-for").unwrap(), "198.51.100.7");

    // The rate limit follows the client behind the proxy, not the proxy.
    let status = client
        .sign_up(sign_up_forwarded_for("198.51.100.7"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    client
        .sign_up(sign_up_forwarded_for("198.51.100.8"))
        .await
        .unwrap();
}

#[tokio::test]
async fn forwarded_for_lines_are_read_as_one_chain() {
    let config = GatewayConfig {
        trusted_proxies: vec!["127.0.0.0/8".to_owned(), "10.0.0.0/8".to_owned()],
        ..GatewayConfig::default()
    };
    let mesh = start(config, UpstreamKind::InProcess).await;
    let mut client = mesh.auth().await;
    // The client forged the first line; the trusted proxy in front of the gateway added the
    // address it saw, and the proxy before it its own hop, each as a line of its own.
    let mut request = sign_up_forwarded_for("6.6.6.6");
    for line in ["198.51.100.7", "10.0.0.9"] {
        request
            .metadata_mut()
            .append("x-forwarded-for", line.parse().unwrap());
    }
    client.sign_up(request).await.unwrap();
    let seen = mesh.seen.last("SignUp").unwrap();
    let forwarded: Vec<_> = seen.get_all("x-forwarded-for").iter().collect();
    assert_eq!(forwarded, ["198.51.100.7"]);
}
