//! Changing a password, and resetting it with a mailed token.

use std::time::Duration;

use gigmesh_auth_service::{Config, ThrottleConfig};
use gigmesh_proto::auth::{
    ChangePasswordRequest, PasswordChanged, PasswordResetRequested, RefreshTokenRequest,
    RequestPasswordResetRequest, ResetPasswordRequest,
};
use gigmesh_testing::{Backend, signed_in, violated_fields};
use gigmesh_types::{millis_from_timestamp, now_millis};
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use crate::support::{
    FREE_FAILURES_PER_NETWORK, PASSWORD_CHANGE_LIMIT, TestAuth, evaluated_and_throttled,
    expect_code, slow_hashing_config, test_config,
};

gigmesh_testing::on_sqlite_and_postgres!(
    changing_the_password_revokes_the_other_sessions,
    changing_the_password_needs_the_current_one,
    a_reset_token_sets_a_new_password_once,
    a_reset_token_expires,
    a_newer_reset_request_replaces_the_older_token,
    reset_requests_mail_once_per_cooldown,
    concurrent_reset_requests_mail_once,
    failed_password_changes_are_throttled_until_the_window_ends,
    concurrent_wrong_password_changes_are_evaluated_at_most_the_limit,
    a_reset_ends_every_throttle_of_the_account,
);

async fn refresh(auth: &mut TestAuth, refresh_token: &str) -> Result<(), Status> {
    auth.client
        .refresh_token(RefreshTokenRequest {
            refresh_token: refresh_token.to_owned(),
        })
        .await
        .map(drop)
}

async fn change_password(
    auth: &mut TestAuth,
    access_token: &str,
    current_password: &str,
    new_password: &str,
) -> Result<(), Status> {
    auth.client
        .change_password(signed_in(
            access_token,
            ChangePasswordRequest {
                current_password: current_password.to_owned(),
                new_password: new_password.to_owned(),
            },
        ))
        .await
        .map(drop)
}

async fn request_reset(auth: &mut TestAuth, email: &str) {
    auth.client
        .request_password_reset(RequestPasswordResetRequest {
            email: email.to_owned(),
        })
        .await
        .expect("request a reset");
}

async fn reset(auth: &mut TestAuth, token: &str, new_password: &str) -> Result<(), Status> {
    auth.client
        .reset_password(ResetPasswordRequest {
            token: token.to_owned(),
            new_password: new_password.to_owned(),
        })
        .await
        .map(drop)
}

async fn changing_the_password_revokes_the_other_sessions(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    let account = auth
        .sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let here = auth.log_in("ada", "analytical-engine").await;
    let elsewhere = auth.log_in("ada", "analytical-engine").await;

    auth.client
        .change_password(signed_in(
            &here.access_token,
            ChangePasswordRequest {
                current_password: "analytical-engine".to_owned(),
                new_password: "difference-engine".to_owned(),
            },
        ))
        .await
        .expect("change the password");

    expect_code(
        refresh(&mut auth, &elsewhere.refresh_token).await,
        Code::Unauthenticated,
    );
    refresh(&mut auth, &here.refresh_token)
        .await
        .expect("the session that changed it lives on");
    expect_code(
        auth.try_log_in("ada", "analytical-engine").await,
        Code::Unauthenticated,
    );
    auth.log_in("ada", "difference-engine").await;
    let changed = auth.events_of::<PasswordChanged>().await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].user_id, account.id);
    assert_eq!(changed[0].email, "ada@example.com");
}

async fn changing_the_password_needs_the_current_one(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let tokens = auth.log_in("ada", "analytical-engine").await;

    let wrong = auth
        .client
        .change_password(signed_in(
            &tokens.access_token,
            ChangePasswordRequest {
                current_password: "not-my-password".to_owned(),
                new_password: "difference-engine".to_owned(),
            },
        ))
        .await;
    assert_eq!(
        violated_fields(&expect_code(wrong, Code::InvalidArgument)),
        ["current_password"]
    );
    let too_short = auth
        .client
        .change_password(signed_in(
            &tokens.access_token,
            ChangePasswordRequest {
                current_password: String::new(),
                new_password: "short".to_owned(),
            },
        ))
        .await;
    assert_eq!(
        violated_fields(&expect_code(too_short, Code::InvalidArgument)),
        ["current_password", "new_password"]
    );
    let anonymous = auth
        .client
        .change_password(ChangePasswordRequest {
            current_password: "analytical-engine".to_owned(),
            new_password: "difference-engine".to_owned(),
        })
        .await;
    expect_code(anonymous, Code::Unauthenticated);
    auth.log_in("ada", "analytical-engine").await;
    assert!(auth.events_of::<PasswordChanged>().await.is_empty());
}

async fn a_reset_token_sets_a_new_password_once(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    let account = auth
        .sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let session = auth.log_in("ada", "analytical-engine").await;

    request_reset(&mut auth, "nobody@example.com").await;
    assert!(auth.events_of::<PasswordResetRequested>().await.is_empty());
    let before = now_millis();
    request_reset(&mut auth, "ADA@example.com").await;
    let mails = auth.events_of::<PasswordResetRequested>().await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].user_id, account.id);
    assert_eq!(mails[0].username, "ada");
    let expire = millis_from_timestamp(mails[0].expire_time.as_ref().expect("expiry"));
    assert!(expire >= before + 3_600_000 && expire <= now_millis() + 3_600_000);
    let token = auth.reset_token("ada@example.com").await;

    let weak = reset(&mut auth, &token, "short").await;
    assert_eq!(
        violated_fields(&expect_code(weak, Code::InvalidArgument)),
        ["new_password"]
    );
    reset(&mut auth, &token, "difference-engine")
        .await
        .expect("reset the password");

    expect_code(
        refresh(&mut auth, &session.refresh_token).await,
        Code::Unauthenticated,
    );
    expect_code(
        auth.try_log_in("ada", "analytical-engine").await,
        Code::Unauthenticated,
    );
    auth.log_in("ada", "difference-engine").await;
    let again = reset(&mut auth, &token, "yet-another-password").await;
    assert_eq!(
        violated_fields(&expect_code(again, Code::InvalidArgument)),
        ["token"]
    );
    auth.log_in("ada", "difference-engine").await;
    let changed = auth.events_of::<PasswordChanged>().await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].user_id, account.id);
}

async fn a_reset_token_expires(backend: Backend) {
    let config = Config {
        password_reset_ttl_seconds: 1,
        mail_cooldown_seconds: 1,
        ..test_config()
    };
    let mut auth = TestAuth::start_with(backend, config).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    request_reset(&mut auth, "ada@example.com").await;
    let token = auth.reset_token("ada@example.com").await;

    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let expired = reset(&mut auth, &token, "difference-engine").await;
    assert_eq!(
        violated_fields(&expect_code(expired, Code::InvalidArgument)),
        ["token"]
    );
    auth.log_in("ada", "analytical-engine").await;
}

/// [`test_config`] with a one-second mail cooldown.
fn short_mail_cooldown_config() -> Config {
    Config {
        mail_cooldown_seconds: 1,
        ..test_config()
    }
}

/// Longer than the cooldown of [`short_mail_cooldown_config`].
const PAST_SHORT_MAIL_COOLDOWN: Duration = Duration::from_millis(1_100);

async fn a_newer_reset_request_replaces_the_older_token(backend: Backend) {
    let mut auth = TestAuth::start_with(backend, short_mail_cooldown_config()).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    request_reset(&mut auth, "ada@example.com").await;
    let older = auth.reset_token("ada@example.com").await;
    tokio::time::sleep(PAST_SHORT_MAIL_COOLDOWN).await;
    request_reset(&mut auth, "ada@example.com").await;
    let newer = auth.reset_token("ada@example.com").await;
    assert_ne!(older, newer);

    expect_code(
        reset(&mut auth, &older, "difference-engine").await,
        Code::InvalidArgument,
    );
    reset(&mut auth, &newer, "difference-engine")
        .await
        .expect("the newest token works");
    auth.log_in("ada", "difference-engine").await;
}

async fn reset_requests_mail_once_per_cooldown(backend: Backend) {
    let mut auth = TestAuth::start_with(backend, short_mail_cooldown_config()).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;

    let mut answers = Vec::new();
    for email in [
        "ada@example.com",
        "ada@example.com",
        "nobody@example.com",
        "ADA@example.com",
    ] {
        let answer = auth
            .client
            .request_password_reset(RequestPasswordResetRequest {
                email: email.to_owned(),
            })
            .await
            .expect("the same answer within the cooldown")
            .into_inner();
        answers.push(answer);
    }
    assert!(answers.windows(2).all(|pair| pair[0] == pair[1]));
    assert_eq!(auth.events_of::<PasswordResetRequested>().await.len(), 1);
    let first_token = auth.reset_token("ada@example.com").await;

    tokio::time::sleep(PAST_SHORT_MAIL_COOLDOWN).await;
    request_reset(&mut auth, "ada@example.com").await;
    assert_eq!(auth.events_of::<PasswordResetRequested>().await.len(), 2);
    let second_token = auth.reset_token("ada@example.com").await;
    assert_ne!(first_token, second_token);
    reset(&mut auth, &second_token, "difference-engine")
        .await
        .expect("the token of the newest mail works");
}

async fn concurrent_reset_requests_mail_once(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;

    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let mut client = auth.client.clone();
        requests.spawn(async move {
            client
                .request_password_reset(RequestPasswordResetRequest {
                    email: "ada@example.com".to_owned(),
                })
                .await
                .map(drop)
        });
    }
    while let Some(outcome) = requests.join_next().await {
        outcome
            .expect("the request task")
            .expect("every request is answered as usual");
    }
    assert_eq!(auth.events_of::<PasswordResetRequested>().await.len(), 1);
    let token = auth.reset_token("ada@example.com").await;
    reset(&mut auth, &token, "difference-engine")
        .await
        .expect("the mailed token works");
}

async fn failed_password_changes_are_throttled_until_the_window_ends(backend: Backend) {
    let window = Duration::from_secs(2);
    let base = test_config();
    let config = Config {
        throttle: ThrottleConfig {
            window_seconds: window.as_secs(),
            first_delay_seconds: 1,
            max_delay_seconds: window.as_secs(),
            ..base.throttle.clone()
        },
        ..base
    };
    let mut auth = TestAuth::start_with(backend, config).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let tokens = auth.log_in("ada", "analytical-engine").await;

    for _ in 0..PASSWORD_CHANGE_LIMIT {
        let wrong = change_password(
            &mut auth,
            &tokens.access_token,
            "not-my-password",
            "difference-engine",
        )
        .await;
        assert_eq!(
            violated_fields(&expect_code(wrong, Code::InvalidArgument)),
            ["current_password"]
        );
    }
    let throttled = expect_code(
        change_password(
            &mut auth,
            &tokens.access_token,
            "analytical-engine",
            "difference-engine",
        )
        .await,
        Code::ResourceExhausted,
    );
    assert!(throttled.message().contains("retry in"), "{throttled:?}");
    let retry = throttled.get_details_retry_info().expect("retry info");
    let delay = retry.retry_delay.expect("retry delay");
    assert!(delay > Duration::ZERO && delay <= window, "{delay:?}");

    tokio::time::sleep(delay + Duration::from_millis(100)).await;
    change_password(
        &mut auth,
        &tokens.access_token,
        "analytical-engine",
        "difference-engine",
    )
    .await
    .expect("the right password once the window is over");
    auth.log_in("ada", "difference-engine").await;
}

async fn concurrent_wrong_password_changes_are_evaluated_at_most_the_limit(backend: Backend) {
    let mut auth = TestAuth::start_with(backend, slow_hashing_config()).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let tokens = auth.log_in("ada", "analytical-engine").await;

    let attempts = 3 * PASSWORD_CHANGE_LIMIT;
    let mut guesses = tokio::task::JoinSet::new();
    for attempt in 0..attempts {
        let mut client = auth.client.clone();
        let request = signed_in(
            &tokens.access_token,
            ChangePasswordRequest {
                current_password: format!("guess-number-{attempt}"),
                new_password: "difference-engine".to_owned(),
            },
        );
        guesses.spawn(async move { client.change_password(request).await.map(drop) });
    }
    let (evaluated, throttled) = evaluated_and_throttled(guesses, Code::InvalidArgument).await;
    assert!(
        (1..=PASSWORD_CHANGE_LIMIT).contains(&evaluated),
        "{evaluated} of {attempts} concurrent guesses were evaluated"
    );
    assert_eq!(evaluated + throttled, attempts);
    expect_code(
        change_password(
            &mut auth,
            &tokens.access_token,
            "analytical-engine",
            "difference-engine",
        )
        .await,
        Code::ResourceExhausted,
    );
}

async fn a_reset_ends_every_throttle_of_the_account(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let tokens = auth.log_in("ada", "analytical-engine").await;
    for _ in 0..PASSWORD_CHANGE_LIMIT {
        expect_code(
            change_password(
                &mut auth,
                &tokens.access_token,
                "not-my-password",
                "difference-engine",
            )
            .await,
            Code::InvalidArgument,
        );
    }
    // Wrong current passwords are counted apart from failed log-ins.
    auth.log_in("ada", "analytical-engine").await;
    for _ in 0..FREE_FAILURES_PER_NETWORK {
        expect_code(
            auth.try_log_in("ada", "not-my-password").await,
            Code::Unauthenticated,
        );
    }
    expect_code(
        auth.try_log_in("ada", "analytical-engine").await,
        Code::ResourceExhausted,
    );
    expect_code(
        change_password(
            &mut auth,
            &tokens.access_token,
            "analytical-engine",
            "difference-engine",
        )
        .await,
        Code::ResourceExhausted,
    );

    request_reset(&mut auth, "ada@example.com").await;
    let token = auth.reset_token("ada@example.com").await;
    reset(&mut auth, &token, "difference-engine")
        .await
        .expect("reset");
    let tokens = auth.log_in("ada", "difference-engine").await;
    change_password(
        &mut auth,
        &tokens.access_token,
        "difference-engine",
        "analytical-engine",
    )
    .await
    .expect("the password change count ended with the reset");
}
