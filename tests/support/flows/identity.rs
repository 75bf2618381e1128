//! The identity flow: sign up, the mailed verification, log in by username and by email, a
//! signed-in call, refresh with reuse detection, log out, and becoming a seller.

use std::path::Path;

use gigmesh_proto::auth;
use gigmesh_proto::users;
use tonic::Code;

use super::methods::{BECOME_SELLER, LOG_OUT, UPDATE_SELLER};
use super::{
    NewAccount, get_my_account, log_in, refresh, refresh_until_role, sign_up_and_verify,
    wait_for_profile,
};
use crate::support::rpc::{Protocol, Rpc};

/// The whole identity flow of the issue: sign up, mail, verify, log in by username and
/// email, a signed-in call, refresh, reuse of a spent refresh token, log out, become seller.
pub async fn identity_flow(rpc: &Rpc, mail_directory: &Path) {
    let account = NewAccount::unique(match rpc.protocol() {
        Protocol::Grpc => "native",
        Protocol::GrpcWeb => "web",
    });
    let by_username = sign_up_and_verify(rpc, mail_directory, &account).await;
    let by_email = log_in(rpc, &account.email.to_uppercase(), &account.password).await;
    let tokens = by_email.tokens.expect("tokens");
    assert_eq!(
        by_username.account.as_ref().map(|a| a.id.clone()),
        by_email.account.as_ref().map(|a| a.id.clone())
    );

    // A signed-in call.
    let me = get_my_account(rpc, Some(&tokens.access_token))
        .await
        .expect("get my account");
    assert_eq!(me.username, account.username);
    assert!(me.email_verified);
    let profile = wait_for_profile(rpc, &tokens.access_token).await;
    assert_eq!(profile.username, account.username);

    // Refresh rotates; the spent token is refused and its whole family revoked.
    let refreshed = refresh(rpc, &tokens.refresh_token).await.expect("refresh");
    let rotated = refreshed.tokens.expect("tokens");
    assert_ne!(rotated.refresh_token, tokens.refresh_token);
    let reuse = refresh(rpc, &tokens.refresh_token)
        .await
        .expect_err("a spent refresh token is refused");
    assert_eq!(reuse.code(), Code::Unauthenticated, "{reuse:?}");
    let family = refresh(rpc, &rotated.refresh_token)
        .await
        .expect_err("reuse revoked the whole family");
    assert_eq!(family.code(), Code::Unauthenticated, "{family:?}");

    // Log out ends the session.
    let session = log_in(rpc, &account.username, &account.password)
        .await
        .tokens
        .expect("tokens");
    let _: auth::LogOutResponse = rpc
        .call(LOG_OUT, auth::LogOutRequest {}, Some(&session.access_token))
        .await
        .expect("log out");
    let after_logout = refresh(rpc, &session.refresh_token)
        .await
        .expect_err("a logged-out session cannot refresh");
    assert_eq!(after_logout.code(), Code::Unauthenticated);

    // Become a seller: after a refresh the token carries the seller role.
    let session = log_in(rpc, &account.username, &account.password)
        .await
        .tokens
        .expect("tokens");
    let seller_profile = users::SellerProfile {
        description: "I build fast, tested Rust services.".to_owned(),
        skills: vec!["rust".to_owned(), "grpc".to_owned()],
        ..Default::default()
    };
    let denied = rpc
        .call::<_, users::Profile>(
            UPDATE_SELLER,
            users::UpdateMySellerProfileRequest {
                seller: Some(seller_profile.clone()),
            },
            Some(&session.access_token),
        )
        .await
        .expect_err("a buyer is not a seller yet");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let became: users::Profile = rpc
        .call(
            BECOME_SELLER,
            users::BecomeSellerRequest {
                seller: Some(seller_profile.clone()),
            },
            Some(&session.access_token),
        )
        .await
        .expect("become seller");
    assert!(became.is_seller);
    let seller_tokens = refresh_until_role(rpc, session.refresh_token, "seller").await;
    let _: users::Profile = rpc
        .call(
            UPDATE_SELLER,
            users::UpdateMySellerProfileRequest {
                seller: Some(seller_profile),
            },
            Some(&seller_tokens.access_token),
        )
        .await
        .expect("a seller may update the seller profile");
}
