//! Rejections: bad input and bad credentials get the right code, never INTERNAL, and a
//! rejected call leaves nothing behind.

use std::path::Path;

use gigmesh_proto::auth;
use tonic::Code;

use super::methods::{SIGN_UP, SUSPEND};
use super::{NewAccount, get_my_account, sign_up_and_verify, token_claims, try_log_in};
use crate::support::rpc::Rpc;

/// Bad input and bad credentials get the right code, never INTERNAL.
pub async fn rejections(rpc: &Rpc, mail_directory: &Path) {
    let account = NewAccount::unique("reject");
    let login = sign_up_and_verify(rpc, mail_directory, &account).await;
    let access_token = login.tokens.expect("tokens").access_token;

    let wrong_password = try_log_in(rpc, &account.username, "wrong password!")
        .await
        .expect_err("wrong password");
    assert_eq!(wrong_password.code(), Code::Unauthenticated);
    let unknown = try_log_in(rpc, "nobody_at_all", "whatever password")
        .await
        .expect_err("unknown account");
    assert_eq!(unknown.code(), Code::Unauthenticated);
    assert_eq!(
        unknown.message(),
        wrong_password.message(),
        "unknown and wrong look the same"
    );

    let fresh = NewAccount::unique("bad");
    for (request, field) in [
        (
            auth::SignUpRequest {
                email: "not-an-email".into(),
                ..fresh.sign_up_request()
            },
            "email",
        ),
        (
            auth::SignUpRequest {
                password: "x".into(),
                ..fresh.sign_up_request()
            },
            "password",
        ),
        (
            auth::SignUpRequest {
                username: "u".repeat(10_000),
                ..fresh.sign_up_request()
            },
            "username",
        ),
        (auth::SignUpRequest::default(), "email"),
    ] {
        let status = rpc
            .call::<_, auth::SignUpResponse>(SIGN_UP, request, None)
            .await
            .expect_err("invalid sign-up");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains(field),
            "{field} named in {:?}",
            status.message()
        );
    }
    // Nothing was half-written: the fresh account can still sign up.
    let _: auth::SignUpResponse = rpc
        .call(SIGN_UP, fresh.sign_up_request(), None)
        .await
        .expect("the rejected sign-ups left nothing behind");

    // Tokens: missing, malformed, foreign-signed, expired.
    let missing = get_my_account(rpc, None).await.expect_err("no token");
    assert_eq!(missing.code(), Code::Unauthenticated);
    let malformed = get_my_account(rpc, Some("not.a.jwt"))
        .await
        .expect_err("malformed token");
    assert_eq!(malformed.code(), Code::Unauthenticated);
    let foreign = forged_token(&access_token, 15 * 60);
    let foreign_status = get_my_account(rpc, Some(&foreign))
        .await
        .expect_err("token signed with another key");
    assert_eq!(foreign_status.code(), Code::Unauthenticated);
    let expired = forged_token(&access_token, -3600);
    let expired_status = get_my_account(rpc, Some(&expired))
        .await
        .expect_err("expired token");
    assert_eq!(expired_status.code(), Code::Unauthenticated);

    // Roles and unknown methods.
    let admin_only = rpc
        .call::<_, auth::Account>(
            SUSPEND,
            auth::SuspendAccountRequest {
                account_id: uuid::Uuid::now_v7().to_string(),
                reason: "spam".into(),
            },
            Some(&access_token),
        )
        .await
        .expect_err("a buyer is not an admin");
    assert_eq!(admin_only.code(), Code::PermissionDenied);
    let unknown_method = rpc
        .call::<_, auth::Account>(
            "/gigmesh.auth.v1.AuthService/NoSuchMethod",
            auth::GetMyAccountRequest {},
            None,
        )
        .await
        .expect_err("unknown method");
    assert_eq!(unknown_method.code(), Code::Unimplemented);
}

/// A token with the claims of `template` (new expiry `lifetime_seconds` from now), signed by
/// a key the server never issued.
fn forged_token(template: &str, lifetime_seconds: i64) -> String {
    let mut claims: gigmesh_auth::Claims = token_claims(template);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    claims.iat = now.min(now + lifetime_seconds) - 60;
    claims.exp = now + lifetime_seconds;
    let key = gigmesh_auth::SigningKey::generate();
    gigmesh_auth::TokenSigner::new(&key)
        .expect("signer")
        .sign(&claims)
        .expect("sign")
}
