//! The steps every flow is made of: a fresh account signed up, verified by the mailed token
//! and logged in, tokens refreshed, and the profile the users service derives from auth's
//! event.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use gigmesh_proto::auth::{self, Role};
use gigmesh_proto::users;
use serde::de::DeserializeOwned;
use tonic::{Code, Status};

use super::methods::{GET_MY_ACCOUNT, GET_MY_PROFILE, LOG_IN, REFRESH, SIGN_UP, VERIFY_EMAIL};
use crate::support::mail::wait_for_mail;
use crate::support::rpc::Rpc;

/// A fresh, unique account.
pub struct NewAccount {
    pub email: String,
    pub username: String,
    pub password: String,
}

impl NewAccount {
    pub fn unique(prefix: &str) -> Self {
        let suffix = &uuid::Uuid::now_v7().simple().to_string()[20..];
        Self {
            email: format!("{prefix}.{suffix}@example.com"),
            username: format!("{prefix}_{suffix}"),
            password: "correct horse battery".to_owned(),
        }
    }

    /// The sign-up of this account.
    pub fn sign_up_request(&self) -> auth::SignUpRequest {
        auth::SignUpRequest {
            email: self.email.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
        }
    }
}

/// Roles carried by an access token (read from its payload, as a client would).
fn token_roles(access_token: &str) -> Vec<String> {
    let claims: serde_json::Value = token_claims(access_token);
    claims["roles"]
        .as_array()
        .expect("roles claim")
        .iter()
        .map(|role| role.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Logs in as `login` (a username or an email).
pub async fn try_log_in(
    rpc: &Rpc,
    login: &str,
    password: &str,
) -> Result<auth::LogInResponse, Status> {
    rpc.call(
        LOG_IN,
        auth::LogInRequest {
            login: login.to_owned(),
            password: password.to_owned(),
        },
        None,
    )
    .await
}

/// Logs in as `login`, which must succeed.
pub async fn log_in(rpc: &Rpc, login: &str, password: &str) -> auth::LogInResponse {
    try_log_in(rpc, login, password)
        .await
        .unwrap_or_else(|status| panic!("log in as {login} failed: {status:?}"))
}

/// Trades `refresh_token` for a new pair of tokens.
pub async fn refresh(rpc: &Rpc, refresh_token: &str) -> Result<auth::RefreshTokenResponse, Status> {
    rpc.call(
        REFRESH,
        auth::RefreshTokenRequest {
            refresh_token: refresh_token.to_owned(),
        },
        None,
    )
    .await
}

/// The signed-in account, with `access_token` when given.
pub async fn get_my_account(
    rpc: &Rpc,
    access_token: Option<&str>,
) -> Result<auth::Account, Status> {
    rpc.call(GET_MY_ACCOUNT, auth::GetMyAccountRequest {}, access_token)
        .await
}

/// Signs up, verifies by the mailed token and logs in; returns the log-in response.
pub async fn sign_up_and_verify(
    rpc: &Rpc,
    mail_directory: &Path,
    account: &NewAccount,
) -> auth::LogInResponse {
    let signed_up: auth::SignUpResponse = rpc
        .call(SIGN_UP, account.sign_up_request(), None)
        .await
        .expect("sign up");
    let created = signed_up.account.expect("account in the response");
    assert_eq!(created.email, account.email);
    assert!(!created.email_verified);
    assert_eq!(created.roles, vec![Role::Buyer as i32]);

    let mail = wait_for_mail(mail_directory, &account.email, "verify").await;
    assert!(
        mail.raw.contains("text/html") && mail.raw.contains("text/plain"),
        "mail has HTML and text parts"
    );
    let token = mail.token().expect("verification token in the mail");
    let _: auth::VerifyEmailResponse = rpc
        .call(
            VERIFY_EMAIL,
            auth::VerifyEmailRequest {
                token: token.clone(),
            },
            None,
        )
        .await
        .expect("verify email");
    let reused = rpc
        .call::<_, auth::VerifyEmailResponse>(
            VERIFY_EMAIL,
            auth::VerifyEmailRequest { token },
            None,
        )
        .await
        .expect_err("a verification token is single-use");
    assert_ne!(reused.code(), Code::Internal);

    log_in(rpc, &account.username, &account.password).await
}

/// Polls until the users service has the profile created from auth's event.
pub async fn wait_for_profile(rpc: &Rpc, access_token: &str) -> users::Profile {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match rpc
            .call::<_, users::Profile>(
                GET_MY_PROFILE,
                users::GetMyProfileRequest {},
                Some(access_token),
            )
            .await
        {
            Ok(profile) => return profile,
            Err(status) if status.code() == Code::NotFound && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("profile never appeared: {status:?}"),
        }
    }
}

/// Refreshes (rotating each time) until the access token carries `role`.
pub async fn refresh_until_role(rpc: &Rpc, mut refresh_token: String, role: &str) -> auth::Tokens {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let refreshed = refresh(rpc, &refresh_token).await.expect("refresh");
        let tokens = refreshed.tokens.expect("tokens");
        if token_roles(&tokens.access_token)
            .iter()
            .any(|held| held == role)
        {
            return tokens;
        }
        assert!(
            Instant::now() < deadline,
            "the {role} role never reached the token"
        );
        refresh_token = tokens.refresh_token;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The payload of a JWT, decoded as a client would read it (the signature is not checked).
pub fn token_claims<Claims: DeserializeOwned>(token: &str) -> Claims {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("payload is base64url");
    serde_json::from_slice(&json).expect("payload is JSON")
}
