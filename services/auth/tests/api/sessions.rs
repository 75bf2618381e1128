//! Refresh-token rotation and reuse, log-out, the session list, and the signing keys.

use gigmesh_proto::auth::{
    GetMyAccountRequest, ListSessionsRequest, LogOutRequest, RefreshTokenRequest,
    RevokeSessionRequest, Tokens,
};
use gigmesh_testing::{Backend, signed_in, violated_fields};
use tonic::{Code, Status};

use crate::support::{TestAuth, expect_code, test_config};

gigmesh_testing::on_sqlite_and_postgres!(
    refresh_rotates_the_token_pair,
    reusing_a_spent_refresh_token_revokes_the_session,
    logging_out_ends_the_session,
    sessions_are_listed_newest_first_in_pages,
    only_own_sessions_can_be_revoked,
    signing_keys_survive_a_restart,
);

async fn refresh(auth: &mut TestAuth, refresh_token: &str) -> Result<Tokens, Status> {
    auth.client
        .refresh_token(RefreshTokenRequest {
            refresh_token: refresh_token.to_owned(),
        })
        .await
        .map(|response| response.into_inner().tokens.expect("tokens"))
}

async fn refresh_rotates_the_token_pair(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    let account = auth
        .sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let first = auth.log_in("ada", "analytical-engine").await;
    let first_claims = auth.claims(&first.access_token).await;

    let second = refresh(&mut auth, &first.refresh_token)
        .await
        .expect("refresh");
    assert_ne!(second.refresh_token, first.refresh_token);
    let second_claims = auth.claims(&second.access_token).await;
    assert_eq!(second_claims.sub, account.id);
    assert_eq!(second_claims.sid, first_claims.sid, "same session");
    assert_ne!(second_claims.jti, first_claims.jti);

    let third = refresh(&mut auth, &second.refresh_token)
        .await
        .expect("refresh again");
    assert_eq!(auth.claims(&third.access_token).await.sid, first_claims.sid);

    for bad in ["", "made-up", &"x".repeat(10_000)] {
        let status = refresh(&mut auth, bad).await.expect_err("refused");
        assert!(
            matches!(status.code(), Code::Unauthenticated | Code::InvalidArgument),
            "{status:?}"
        );
    }
    let missing = refresh(&mut auth, "").await;
    assert_eq!(
        violated_fields(&expect_code(missing, Code::InvalidArgument)),
        ["refresh_token"]
    );
    expect_code(refresh(&mut auth, "made-up").await, Code::Unauthenticated);
}

async fn reusing_a_spent_refresh_token_revokes_the_session(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let stolen = auth.log_in("ada", "analytical-engine").await;
    let other_device = auth.log_in("ada", "analytical-engine").await;
    let rotated = refresh(&mut auth, &stolen.refresh_token)
        .await
        .expect("refresh");

    let replay = expect_code(
        refresh(&mut auth, &stolen.refresh_token).await,
        Code::Unauthenticated,
    );
    assert!(replay.message().contains("already used"), "{replay:?}");
    // The whole family is gone: the newest token of the session no longer works either,
    // and neither does the session's access token at auth.
    expect_code(
        refresh(&mut auth, &rotated.refresh_token).await,
        Code::Unauthenticated,
    );
    let account = auth
        .client
        .get_my_account(signed_in(&rotated.access_token, GetMyAccountRequest {}))
        .await;
    expect_code(account, Code::Unauthenticated);
    // Other sessions live on.
    refresh(&mut auth, &other_device.refresh_token)
        .await
        .expect("other session unaffected");
}

async fn logging_out_ends_the_session(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let tokens = auth.log_in("ada", "analytical-engine").await;

    auth.client
        .log_out(signed_in(&tokens.access_token, LogOutRequest {}))
        .await
        .expect("log out");
    auth.client
        .log_out(signed_in(&tokens.access_token, LogOutRequest {}))
        .await
        .expect("logging out twice is fine");

    let status = expect_code(
        refresh(&mut auth, &tokens.refresh_token).await,
        Code::Unauthenticated,
    );
    assert!(status.message().contains("session ended"), "{status:?}");
    let sessions = auth
        .client
        .list_sessions(signed_in(
            &tokens.access_token,
            ListSessionsRequest::default(),
        ))
        .await;
    expect_code(sessions, Code::Unauthenticated);
    expect_code(
        auth.client.log_out(LogOutRequest {}).await,
        Code::Unauthenticated,
    );
}

async fn sessions_are_listed_newest_first_in_pages(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let mut session_ids = Vec::new();
    let mut last_tokens = None;
    for device in ["laptop", "phone", "tablet"] {
        let tokens = auth
            .try_log_in_from("ada", "analytical-engine", "192.0.2.10", device)
            .await
            .expect("log in")
            .tokens
            .expect("tokens");
        session_ids.push(auth.claims(&tokens.access_token).await.sid);
        last_tokens = Some(tokens);
    }
    let ended = auth.log_in("ada", "analytical-engine").await;
    auth.client
        .log_out(signed_in(&ended.access_token, LogOutRequest {}))
        .await
        .expect("log out");
    let current = last_tokens.expect("logged in");

    let first_page = auth
        .client
        .list_sessions(signed_in(
            &current.access_token,
            ListSessionsRequest {
                page_size: 2,
                page_token: String::new(),
            },
        ))
        .await
        .expect("first page")
        .into_inner();
    assert_eq!(first_page.sessions.len(), 2);
    assert!(!first_page.next_page_token.is_empty());
    let second_page = auth
        .client
        .list_sessions(signed_in(
            &current.access_token,
            ListSessionsRequest {
                page_size: 2,
                page_token: first_page.next_page_token.clone(),
            },
        ))
        .await
        .expect("second page")
        .into_inner();
    assert_eq!(second_page.sessions.len(), 1);
    assert!(second_page.next_page_token.is_empty());

    let listed: Vec<_> = first_page
        .sessions
        .iter()
        .chain(&second_page.sessions)
        .collect();
    let listed_ids: Vec<_> = listed.iter().map(|session| session.id.clone()).collect();
    let newest_first: Vec<_> = session_ids.iter().rev().cloned().collect();
    assert_eq!(listed_ids, newest_first, "live sessions only, newest first");
    assert!(listed[0].current);
    assert!(listed[1..].iter().all(|session| !session.current));
    assert!(
        listed[0].user_agent.starts_with("tablet"),
        "{:?}",
        listed[0]
    );
    assert!(
        listed[2].user_agent.starts_with("laptop"),
        "{:?}",
        listed[2]
    );
    assert!(
        listed
            .iter()
            .all(|session| session.client_address == "192.0.2.10")
    );
    assert!(listed.iter().all(|session| session.create_time.is_some()));

    let bad_token = auth
        .client
        .list_sessions(signed_in(
            &current.access_token,
            ListSessionsRequest {
                page_size: -1,
                page_token: "garbage!".to_owned(),
            },
        ))
        .await;
    let status = expect_code(bad_token, Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["page_size", "page_token"]);
}

async fn only_own_sessions_can_be_revoked(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    auth.sign_up_verified("grace@example.com", "grace", "compiler-a-0")
        .await;
    let ada_laptop = auth.log_in("ada", "analytical-engine").await;
    let ada_phone = auth.log_in("ada", "analytical-engine").await;
    let grace = auth.log_in("grace", "compiler-a-0").await;
    let phone_session = auth.claims(&ada_phone.access_token).await.sid;
    let grace_session = auth.claims(&grace.access_token).await.sid;

    let foreign = auth
        .client
        .revoke_session(signed_in(
            &ada_laptop.access_token,
            RevokeSessionRequest {
                session_id: grace_session.clone(),
            },
        ))
        .await;
    let status = expect_code(foreign, Code::NotFound);
    assert!(status.message().contains(&grace_session));
    refresh(&mut auth, &grace.refresh_token)
        .await
        .expect("grace's session is untouched");

    let unknown = auth
        .client
        .revoke_session(signed_in(
            &ada_laptop.access_token,
            RevokeSessionRequest {
                session_id: uuid::Uuid::now_v7().to_string(),
            },
        ))
        .await;
    expect_code(unknown, Code::NotFound);
    let malformed = auth
        .client
        .revoke_session(signed_in(
            &ada_laptop.access_token,
            RevokeSessionRequest {
                session_id: "nope".to_owned(),
            },
        ))
        .await;
    assert_eq!(
        violated_fields(&expect_code(malformed, Code::InvalidArgument)),
        ["session_id"]
    );

    auth.client
        .revoke_session(signed_in(
            &ada_laptop.access_token,
            RevokeSessionRequest {
                session_id: phone_session.clone(),
            },
        ))
        .await
        .expect("revoke own session");
    expect_code(
        refresh(&mut auth, &ada_phone.refresh_token).await,
        Code::Unauthenticated,
    );
    refresh(&mut auth, &ada_laptop.refresh_token)
        .await
        .expect("the caller's session lives on");
}

async fn signing_keys_survive_a_restart(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let tokens = auth.log_in("ada", "analytical-engine").await;
    let keys = auth.jwks().await;
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!((key.kty.as_str(), key.crv.as_str()), ("OKP", "Ed25519"));
    assert_eq!((key.alg.as_str(), key.r#use.as_str()), ("EdDSA", "sig"));

    let restarted = auth.second_app(test_config()).await;
    let restarted_keys = restarted
        .store_jwks()
        .fetch()
        .await
        .expect("keys of the restarted app");
    assert_eq!(
        restarted_keys, keys,
        "the stored key is loaded, not replaced"
    );
    restarted
        .verifier()
        .verify(&tokens.access_token)
        .await
        .expect("tokens signed before the restart still verify");
}
