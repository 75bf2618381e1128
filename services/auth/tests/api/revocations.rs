//! Every way a session ends is announced (`SessionsRevoked`, in the transaction that ends it),
//! so the other services refuse its access tokens before they expire: log-out, revoking a
//! session, a replayed refresh token, a password change (the other sessions), a reset and a
//! suspension (all of them). Nothing is announced when nothing ended.

use std::collections::BTreeSet;

use gigmesh_proto::auth::{
    ChangePasswordRequest, LogOutRequest, RefreshTokenRequest, RequestPasswordResetRequest,
    ResetPasswordRequest, RevokeSessionRequest, SessionsRevoked, SuspendAccountRequest,
};
use gigmesh_testing::{Backend, signed_in};
use gigmesh_types::{millis_from_timestamp, now_millis};

use crate::support::{TestAuth, test_config};

gigmesh_testing::on_sqlite_and_postgres!(
    ending_one_session_announces_it,
    password_changes_resets_and_suspensions_announce_every_session_they_end,
);

/// The sessions announced as ended since the last call, as one set per event.
async fn announced(auth: &mut TestAuth, seen: &mut usize) -> Vec<BTreeSet<String>> {
    let events = auth.events_of::<SessionsRevoked>().await;
    let new: Vec<SessionsRevoked> = events[*seen..].to_vec();
    *seen = events.len();
    let ttl_millis = i64::try_from(test_config().access_token_ttl().as_millis()).expect("ttl");
    for event in &new {
        let expire_time = millis_from_timestamp(event.expire_time.as_ref().expect("expiry"));
        // Long enough for a token signed just now, and not much longer.
        assert!(
            expire_time >= now_millis() + ttl_millis - 60_000,
            "{event:?}"
        );
        assert!(
            expire_time <= now_millis() + ttl_millis + 120_000,
            "{event:?}"
        );
    }
    new.into_iter()
        .map(|event| event.session_ids.into_iter().collect())
        .collect()
}

fn sessions(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

async fn ending_one_session_announces_it(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    let mut seen = 0;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let laptop = auth.log_in("ada", "analytical-engine").await;
    let phone = auth.log_in("ada", "analytical-engine").await;
    let tablet = auth.log_in("ada", "analytical-engine").await;
    let laptop_sid = auth.claims(&laptop.access_token).await.sid;
    let phone_sid = auth.claims(&phone.access_token).await.sid;
    let tablet_sid = auth.claims(&tablet.access_token).await.sid;
    assert!(announced(&mut auth, &mut seen).await.is_empty());

    for _ in 0..2 {
        auth.client
            .log_out(signed_in(&laptop.access_token, LogOutRequest {}))
            .await
            .expect("log out");
    }
    assert_eq!(
        announced(&mut auth, &mut seen).await,
        [sessions(&[&laptop_sid])],
        "a second log-out ends nothing"
    );

    auth.client
        .revoke_session(signed_in(
            &tablet.access_token,
            RevokeSessionRequest {
                session_id: phone_sid.clone(),
            },
        ))
        .await
        .expect("revoke the phone");
    assert_eq!(
        announced(&mut auth, &mut seen).await,
        [sessions(&[&phone_sid])]
    );

    // A spent refresh token presented again ends its session.
    let rotated = auth
        .client
        .refresh_token(RefreshTokenRequest {
            refresh_token: tablet.refresh_token.clone(),
        })
        .await
        .expect("refresh");
    drop(rotated);
    auth.client
        .refresh_token(RefreshTokenRequest {
            refresh_token: tablet.refresh_token.clone(),
        })
        .await
        .expect_err("a replayed refresh token is refused");
    assert_eq!(
        announced(&mut auth, &mut seen).await,
        [sessions(&[&tablet_sid])]
    );
}

async fn password_changes_resets_and_suspensions_announce_every_session_they_end(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    let mut seen = 0;
    let ada = auth
        .sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let laptop = auth.log_in("ada", "analytical-engine").await;
    let phone = auth.log_in("ada", "analytical-engine").await;
    let laptop_sid = auth.claims(&laptop.access_token).await.sid;
    let phone_sid = auth.claims(&phone.access_token).await.sid;

    auth.client
        .change_password(signed_in(
            &laptop.access_token,
            ChangePasswordRequest {
                current_password: "analytical-engine".into(),
                new_password: "difference-engine".into(),
            },
        ))
        .await
        .expect("change the password");
    assert_eq!(
        announced(&mut auth, &mut seen).await,
        [sessions(&[&phone_sid])],
        "the session that changed the password lives on"
    );

    let desk = auth.log_in("ada", "difference-engine").await;
    let desk_sid = auth.claims(&desk.access_token).await.sid;
    auth.client
        .request_password_reset(RequestPasswordResetRequest {
            email: "ada@example.com".into(),
        })
        .await
        .expect("request a reset");
    let token = auth.reset_token("ada@example.com").await;
    auth.client
        .reset_password(ResetPasswordRequest {
            token,
            new_password: "jacquard-loom-1".into(),
        })
        .await
        .expect("reset");
    assert_eq!(
        announced(&mut auth, &mut seen).await,
        [sessions(&[&laptop_sid, &desk_sid])]
    );

    let first = auth.log_in("ada", "jacquard-loom-1").await;
    let second = auth.log_in("ada", "jacquard-loom-1").await;
    let first_sid = auth.claims(&first.access_token).await.sid;
    let second_sid = auth.claims(&second.access_token).await.sid;
    let admin = auth.admin_tokens().await;
    auth.client
        .suspend_account(signed_in(
            &admin.access_token,
            SuspendAccountRequest {
                account_id: ada.id.clone(),
                reason: "fraud review".into(),
            },
        ))
        .await
        .expect("suspend");
    let after_suspension = announced(&mut auth, &mut seen).await;
    assert_eq!(after_suspension, [sessions(&[&first_sid, &second_sid])]);
    assert!(
        auth.events_of::<SessionsRevoked>()
            .await
            .iter()
            .all(|event| event.user_id == ada.id)
    );
}
