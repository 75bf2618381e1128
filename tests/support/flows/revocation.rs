//! Revocation reaching every service: an access token of a session that ended is refused by
//! the users and gigs services too, within `deadline` — after a log-out, and after an admin
//! is suspended (their old token can no longer moderate).

use std::path::Path;
use std::time::Duration;

use gigmesh_proto::{auth, gigs, users};
use tokio::time::Instant;
use tonic::Code;

use super::methods::{GET_MY_PROFILE, LOG_OUT, MODERATE_GIG, SUSPEND};
use super::{NewAccount, log_in, sign_up_and_verify, wait_for_profile};
use crate::support::rpc::Rpc;

/// What GetMyProfile answers with `token`.
async fn profile_code(rpc: &Rpc, token: &str) -> Code {
    match rpc
        .call::<_, users::Profile>(GET_MY_PROFILE, users::GetMyProfileRequest {}, Some(token))
        .await
    {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// What ModerateGig on a gig that does not exist answers with `token`: `NOT_FOUND` for an
/// admin the gigs service believes.
async fn moderate_code(rpc: &Rpc, token: &str) -> Code {
    let request = gigs::ModerateGigRequest {
        gig_id: "01900000-0000-7000-8000-00000000beef".into(),
        action: gigs::ModerationAction::Approve as i32,
        reason: String::new(),
    };
    match rpc
        .call::<_, gigs::Gig>(MODERATE_GIG, request, Some(token))
        .await
    {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// Waits until `probe` answers `UNAUTHENTICATED`; panics after `deadline`.
async fn refused_within<F, Fut>(deadline: Duration, what: &str, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Code>,
{
    let start = Instant::now();
    loop {
        let code = probe().await;
        if code == Code::Unauthenticated {
            let elapsed = start.elapsed();
            eprintln!("{what}: refused {elapsed:?} after the session ended");
            return elapsed;
        }
        assert!(
            start.elapsed() < deadline,
            "{what}: still answered {code:?} {deadline:?} after the session ended"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A user logs out: that session's token is refused by users; their other session lives on.
/// `deputy` (an admin other than `admin_login`) is suspended: their old token can neither
/// moderate gigs nor read their profile.
pub async fn revocation(
    rpc: &Rpc,
    mail_directory: &Path,
    (admin_login, admin_password): (&str, &str),
    deputy: &NewAccount,
    deadline: Duration,
) {
    let account = NewAccount::unique("revoked");
    let first = sign_up_and_verify(rpc, mail_directory, &account)
        .await
        .tokens
        .expect("tokens");
    let second = log_in(rpc, &account.username, &account.password)
        .await
        .tokens
        .expect("tokens");
    wait_for_profile(rpc, &first.access_token).await;

    let _: auth::LogOutResponse = rpc
        .call(LOG_OUT, auth::LogOutRequest {}, Some(&first.access_token))
        .await
        .expect("log out");
    refused_within(deadline, "users after log-out", || {
        profile_code(rpc, &first.access_token)
    })
    .await;
    assert_eq!(profile_code(rpc, &second.access_token).await, Code::Ok);

    let deputy_tokens = log_in(rpc, &deputy.username, &deputy.password)
        .await
        .tokens
        .expect("tokens");
    let deputy_id = log_in(rpc, &deputy.username, &deputy.password)
        .await
        .account
        .expect("account")
        .id;
    assert_eq!(
        moderate_code(rpc, &deputy_tokens.access_token).await,
        Code::NotFound,
        "the deputy moderates as an admin"
    );
    let admin = log_in(rpc, admin_login, admin_password)
        .await
        .tokens
        .expect("tokens");
    let _: auth::Account = rpc
        .call(
            SUSPEND,
            auth::SuspendAccountRequest {
                account_id: deputy_id,
                reason: "compromised".into(),
            },
            Some(&admin.access_token),
        )
        .await
        .expect("suspend the deputy");
    refused_within(deadline, "gigs after suspension", || {
        moderate_code(rpc, &deputy_tokens.access_token)
    })
    .await;
    refused_within(deadline, "users after suspension", || {
        profile_code(rpc, &deputy_tokens.access_token)
    })
    .await;
}
