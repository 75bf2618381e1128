//! The access policy: protected methods need a valid token, role-gated methods the role, and
//! public methods ignore a bad token.

use gigmesh_auth::{Role, SigningKey};
use gigmesh_gateway::GatewayConfig;
use gigmesh_proto::{auth, users};
use prost::Message as _;
use tonic::Code;

use crate::support::{
    BOTH_KINDS, GET_MY_ACCOUNT, GrpcWebFormat, Mesh, UpstreamKind, grpc_web_call, sign_up_request,
    start, token_signed_by, with_header, with_token,
};

const SUSPEND_ACCOUNT: &str = "/gigmesh.auth.v1.AuthService/SuspendAccount";

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
        let forged = token_signed_by(&impostor, &[Role::Admin]);
        assert_eq!(
            my_account_code(&mesh, Some(&format!("Bearer {forged}"))).await,
            Code::Unauthenticated
        );

        // Signed by a key auth never published.
        let stranger = token_signed_by(&SigningKey::generate(), &[Role::Buyer]);
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
