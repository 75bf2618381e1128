//! Suspension: an admin suspends an account, which then can neither log in nor refresh,
//! and unsuspends it.

use std::path::Path;

use gigmesh_proto::auth;
use tonic::Code;

use super::methods::{SUSPEND, UNSUSPEND};
use super::{NewAccount, log_in, refresh, sign_up_and_verify, try_log_in};
use crate::support::rpc::Rpc;

/// An admin suspends an account: it can no longer log in or refresh; unsuspended, it can.
pub async fn suspension(rpc: &Rpc, mail_directory: &Path, admin_login: &str, admin_password: &str) {
    let account = NewAccount::unique("suspended");
    let login = sign_up_and_verify(rpc, mail_directory, &account).await;
    let account_id = login.account.expect("account").id;
    let tokens = login.tokens.expect("tokens");
    let admin = log_in(rpc, admin_login, admin_password)
        .await
        .tokens
        .expect("tokens");

    let suspended: auth::Account = rpc
        .call(
            SUSPEND,
            auth::SuspendAccountRequest {
                account_id: account_id.clone(),
                reason: "fraud review".into(),
            },
            Some(&admin.access_token),
        )
        .await
        .expect("suspend");
    assert_eq!(suspended.state, auth::AccountState::Suspended as i32);
    let refused = try_log_in(rpc, &account.username, &account.password)
        .await
        .expect_err("a suspended account cannot log in");
    assert_eq!(refused.code(), Code::PermissionDenied);
    let no_refresh = refresh(rpc, &tokens.refresh_token)
        .await
        .expect_err("a suspended account cannot refresh");
    assert_eq!(no_refresh.code(), Code::PermissionDenied, "{no_refresh:?}");

    let _: auth::Account = rpc
        .call(
            UNSUSPEND,
            auth::UnsuspendAccountRequest { account_id },
            Some(&admin.access_token),
        )
        .await
        .expect("unsuspend");
    log_in(rpc, &account.username, &account.password).await;
}
