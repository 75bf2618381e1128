//! Suspending and unsuspending accounts.

use gigmesh_proto::auth::{
    AccountState, AccountSuspended, AccountUnsuspended, RefreshTokenRequest, SuspendAccountRequest,
    UnsuspendAccountRequest,
};
use gigmesh_testing::{Backend, signed_in, violated_fields};
use tonic::Code;

use crate::support::{TestAuth, expect_code};

gigmesh_testing::on_sqlite_and_postgres!(
    a_suspended_account_cannot_log_in_or_refresh,
    suspending_needs_an_admin_and_a_reason,
);

async fn a_suspended_account_cannot_log_in_or_refresh(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    let admin = auth.admin_tokens().await;
    let account = auth
        .sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let session = auth.log_in("ada", "analytical-engine").await;

    let suspended = auth
        .client
        .suspend_account(signed_in(
            &admin.access_token,
            SuspendAccountRequest {
                account_id: account.id.clone(),
                reason: "chargeback fraud".to_owned(),
            },
        ))
        .await
        .expect("suspend")
        .into_inner();
    assert_eq!(suspended.state, AccountState::Suspended as i32);

    let refreshed = auth
        .client
        .refresh_token(RefreshTokenRequest {
            refresh_token: session.refresh_token.clone(),
        })
        .await;
    let status = expect_code(refreshed, Code::PermissionDenied);
    assert_eq!(status.message(), "account suspended");
    let right = expect_code(
        auth.try_log_in("ada", "analytical-engine").await,
        Code::PermissionDenied,
    );
    assert_eq!(right.message(), "account suspended");
    let wrong = expect_code(
        auth.try_log_in("ada", "difference-engine").await,
        Code::Unauthenticated,
    );
    assert_eq!(wrong.message(), "invalid login or password");
    let events = auth.events_of::<AccountSuspended>().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].user_id, account.id);
    assert_eq!(events[0].reason, "chargeback fraud");

    let unsuspended = auth
        .client
        .unsuspend_account(signed_in(
            &admin.access_token,
            UnsuspendAccountRequest {
                account_id: account.id.clone(),
            },
        ))
        .await
        .expect("unsuspend")
        .into_inner();
    assert_eq!(unsuspended.state, AccountState::Active as i32);
    assert_eq!(auth.events_of::<AccountUnsuspended>().await.len(), 1);
    // Sessions revoked by the suspension stay revoked; a new log-in works.
    expect_code(
        auth.client
            .refresh_token(RefreshTokenRequest {
                refresh_token: session.refresh_token,
            })
            .await,
        Code::Unauthenticated,
    );
    auth.log_in("ada", "analytical-engine").await;
}

async fn suspending_needs_an_admin_and_a_reason(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    let admin = auth.admin_tokens().await;
    let admin_id = auth.claims(&admin.access_token).await.sub;
    let ada = auth
        .sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    auth.sign_up_verified("grace@example.com", "grace", "compiler-a-0")
        .await;
    let grace = auth.log_in("grace", "compiler-a-0").await;
    let suspend = |account_id: &str, reason: &str, token: &str| {
        signed_in(
            token,
            SuspendAccountRequest {
                account_id: account_id.to_owned(),
                reason: reason.to_owned(),
            },
        )
    };

    let by_buyer = auth
        .client
        .suspend_account(suspend(&ada.id, "spam", &grace.access_token))
        .await;
    assert_eq!(
        expect_code(by_buyer, Code::PermissionDenied).message(),
        "admin role required"
    );
    let unsuspend_by_buyer = auth
        .client
        .unsuspend_account(signed_in(
            &grace.access_token,
            UnsuspendAccountRequest {
                account_id: ada.id.clone(),
            },
        ))
        .await;
    expect_code(unsuspend_by_buyer, Code::PermissionDenied);
    let anonymous = auth
        .client
        .suspend_account(SuspendAccountRequest {
            account_id: ada.id.clone(),
            reason: "spam".to_owned(),
        })
        .await;
    expect_code(anonymous, Code::Unauthenticated);

    let unknown = auth
        .client
        .suspend_account(suspend(
            &uuid::Uuid::now_v7().to_string(),
            "spam",
            &admin.access_token,
        ))
        .await;
    expect_code(unknown, Code::NotFound);
    let invalid = auth
        .client
        .suspend_account(suspend("nope", "", &admin.access_token))
        .await;
    assert_eq!(
        violated_fields(&expect_code(invalid, Code::InvalidArgument)),
        ["account_id", "reason"]
    );
    let own = auth
        .client
        .suspend_account(suspend(&admin_id, "oops", &admin.access_token))
        .await;
    expect_code(own, Code::FailedPrecondition);
    assert!(auth.events_of::<AccountSuspended>().await.is_empty());
    auth.log_in("ada", "analytical-engine").await;
}
