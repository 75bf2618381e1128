//! The retention task on auth's database: rows past their horizon go (ended sessions with
//! their refresh tokens, expired mailed tokens, stale log-in failures and mail requests,
//! networks an account has not logged in from for a month, old inbox rows and dead letters),
//! everything still in use stays.

use gigmesh_auth_service::App;
use gigmesh_proto::auth::{LogOutRequest, RequestPasswordResetRequest};
use gigmesh_runtime::Service as _;
use gigmesh_runtime::retention::{Retention, RetentionConfig};
use gigmesh_testing::{Backend, signed_in};
use gigmesh_types::now_millis;

use crate::support::TestAuth;

gigmesh_testing::on_sqlite_and_postgres!(rows_past_their_horizon_are_deleted_and_nothing_else);

const DAY: i64 = 24 * 60 * 60 * 1000;

async fn count(auth: &TestAuth, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(auth.db().pool())
        .await
        .expect("count")
}

async fn execute(auth: &TestAuth, statement: &str, time: i64) {
    sqlx::query(statement)
        .bind(time)
        .execute(auth.db().pool())
        .await
        .expect("age the rows");
}

async fn rows_past_their_horizon_are_deleted_and_nothing_else(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let old = auth.log_in("ada", "analytical-engine").await;
    let live = auth.log_in("ada", "analytical-engine").await;
    let old_sid = auth.claims(&old.access_token).await.sid;
    auth.client
        .log_out(signed_in(&old.access_token, LogOutRequest {}))
        .await
        .expect("log out");
    auth.try_log_in("ada", "wrong-password")
        .await
        .expect_err("a failure is counted");
    auth.try_log_in("ghost", "wrong-password")
        .await
        .expect_err("a failure is counted");
    auth.client
        .request_password_reset(RequestPasswordResetRequest {
            email: "ada@example.com".into(),
        })
        .await
        .expect("a reset mail request");
    let now = now_millis();
    // The logged-out session ended 31 days ago; the mailed tokens expired 2 days ago; one
    // failure window, one network's failures and the reset mail request are 2 days old.
    sqlx::query("UPDATE sessions SET revoke_time = $1 WHERE id = $2")
        .bind(now - 31 * DAY)
        .bind(&old_sid)
        .execute(auth.db().pool())
        .await
        .expect("age the session");
    execute(
        &auth,
        "UPDATE mailed_tokens SET expire_time = $1",
        now - 2 * DAY,
    )
    .await;
    execute(
        &auth,
        "UPDATE login_failures SET window_start = $1 WHERE subject LIKE 'unknown-username:%'",
        now - 2 * DAY,
    )
    .await;
    execute(
        &auth,
        "UPDATE login_network_failures SET last_failure_time = $1, retry_time = $1 \
         WHERE subject LIKE 'unknown-username:%'",
        now - 2 * DAY,
    )
    .await;
    // A network the account last logged in from 31 days ago, besides today's.
    execute(
        &auth,
        "INSERT INTO login_networks (account_id, network, last_success_time) \
         SELECT id, '192.0.2.1', $1 FROM accounts WHERE username_key = 'ada'",
        now - 31 * DAY,
    )
    .await;
    execute(
        &auth,
        "UPDATE mail_requests SET last_mail_time = $1",
        now - 2 * DAY,
    )
    .await;
    execute(
        &auth,
        "INSERT INTO inbox (consumer, event_id, process_time) VALUES ('probe', 'old', $1)",
        now - 8 * DAY,
    )
    .await;
    execute(
        &auth,
        "INSERT INTO inbox (consumer, event_id, process_time) VALUES ('probe', 'new', $1)",
        now,
    )
    .await;
    let sessions_before = count(&auth, "sessions").await;
    let failures_before = count(&auth, "login_failures").await;
    let network_failures_before = count(&auth, "login_network_failures").await;
    assert_eq!(count(&auth, "login_networks").await, 2);
    let refresh_tokens_before = count(&auth, "refresh_tokens").await;

    let retention = Retention::new(
        "auth",
        App::DESCRIPTION.retention,
        auth.db().clone(),
        &RetentionConfig::default(),
    );
    let deleted = retention.run_once().await.expect("retention");
    let deleted_by = |name: &str| {
        deleted
            .iter()
            .find(|(rule, _)| *rule == name)
            .map(|(_, count)| *count)
            .unwrap_or_else(|| panic!("no rule {name}"))
    };
    assert_eq!(deleted_by("inbox"), 1);
    assert_eq!(deleted_by("sessions"), 1);
    assert_eq!(deleted_by("refresh_tokens"), 1, "the ended session's token");
    assert_eq!(
        deleted_by("mailed_tokens"),
        2,
        "the verification and the reset token"
    );
    assert_eq!(deleted_by("login_failures"), 1);
    assert_eq!(deleted_by("login_network_failures"), 1);
    assert_eq!(deleted_by("login_networks"), 1);
    assert_eq!(deleted_by("mail_requests"), 1);
    assert_eq!(deleted_by("dead_letters"), 0);
    assert_eq!(count(&auth, "sessions").await, sessions_before - 1);
    assert_eq!(
        count(&auth, "refresh_tokens").await,
        refresh_tokens_before - 1
    );
    assert_eq!(count(&auth, "login_failures").await, failures_before - 1);
    assert_eq!(
        count(&auth, "login_network_failures").await,
        network_failures_before - 1
    );
    assert_eq!(count(&auth, "login_networks").await, 1);
    assert_eq!(count(&auth, "inbox").await, 1);

    // The live session still refreshes; a second run finds nothing.
    auth.client
        .refresh_token(gigmesh_proto::auth::RefreshTokenRequest {
            refresh_token: live.refresh_token.clone(),
        })
        .await
        .expect("the live session is untouched");
    let again = retention.run_once().await.expect("retention");
    assert!(again.iter().all(|(_, count)| *count == 0), "{again:?}");
}
