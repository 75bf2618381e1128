//! Sign-up, email verification and the caller's own account.

use std::time::Duration;

use gigmesh_auth_service::Config;
use gigmesh_proto::EventMessage as _;
use gigmesh_proto::auth::{
    AccountState, EmailVerificationRequested, EmailVerified, GetMyAccountRequest,
    ResendVerificationEmailRequest, Role, SignUpRequest, UserRegistered, VerifyEmailRequest,
};
use gigmesh_testing::{Backend, signed_in, violated_fields};
use gigmesh_types::now_millis;
use sqlx::Row as _;
use tonic::Code;

use crate::support::{TestAuth, expect_code, open_mailed_token, roles_of, test_config};

gigmesh_testing::on_sqlite_and_postgres!(
    sign_up_creates_an_unverified_buyer_and_mails_a_token,
    mailed_tokens_leave_auth_only_sealed_and_their_outbox_rows_are_deleted_once_sent,
    sign_up_reports_every_invalid_field,
    sign_up_refuses_taken_email_and_username,
    verification_tokens_are_single_use,
    resend_answers_alike_and_replaces_earlier_tokens,
    resend_requests_mail_once_per_cooldown,
    my_account_needs_a_valid_token,
);

async fn sign_up_creates_an_unverified_buyer_and_mails_a_token(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    let before = now_millis();

    let account = auth
        .sign_up(" Ada@Example.COM ", "Ada_Lovelace", "analytical-engine")
        .await;

    assert_eq!(account.email, "ada@example.com");
    assert_eq!(account.username, "Ada_Lovelace");
    assert!(!account.email_verified);
    assert_eq!(roles_of(&account), [Role::Buyer]);
    assert_eq!(account.state, AccountState::Active as i32);
    let registered = auth.events_of::<UserRegistered>().await;
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].user_id, account.id);
    assert_eq!(registered[0].email, "ada@example.com");
    let mails = auth.events_of::<EmailVerificationRequested>().await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.user_id, account.id);
    assert_eq!(mail.username, "Ada_Lovelace");
    let token = open_mailed_token(&mail.token_key_id, &mail.sealed_token);
    assert_eq!(token.len(), 43, "32 random bytes, base64url");
    let expire = gigmesh_types::millis_from_timestamp(mail.expire_time.as_ref().expect("expiry"));
    let day = 24 * 60 * 60 * 1000;
    assert!(expire >= before + day && expire <= now_millis() + day);
}

async fn mailed_tokens_leave_auth_only_sealed_and_their_outbox_rows_are_deleted_once_sent(
    backend: Backend,
) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up("ada@example.com", "ada", "analytical-engine")
        .await;
    let token = auth.verification_token("ada@example.com").await;

    let published = auth.published_events().await.to_vec();
    let mail = published
        .iter()
        .find(|envelope| envelope.event_type == EmailVerificationRequested::EVENT_TYPE)
        .expect("the verification mail was published");
    let contains_token = |bytes: &[u8]| {
        bytes
            .windows(token.len())
            .any(|window| window == token.as_bytes())
    };
    assert!(
        !contains_token(&mail.payload),
        "the token crossed the bus in clear"
    );

    // Published rows stay in the outbox for inspection, except those carrying a secret.
    let kept: Vec<(String, Vec<u8>)> =
        sqlx::query("SELECT event_type, envelope FROM outbox WHERE send_time IS NOT NULL")
            .fetch_all(auth.app.db().pool())
            .await
            .expect("read the outbox")
            .iter()
            .map(|row| (row.get("event_type"), row.get("envelope")))
            .collect();
    let kept_types: Vec<&str> = kept.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(kept_types, [UserRegistered::EVENT_TYPE]);
    let rows = sqlx::query("SELECT COUNT(*) FROM outbox")
        .fetch_one(auth.app.db().pool())
        .await
        .expect("count the outbox");
    assert_eq!(
        rows.get::<i64, _>(0),
        1,
        "the mail event's row is deleted once sent"
    );
    assert!(kept.iter().all(|(_, envelope)| !contains_token(envelope)));
}

async fn sign_up_reports_every_invalid_field(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    let cases = [
        (
            ("not-an-email", "ada", "long enough password"),
            vec!["email"],
        ),
        (("ada@example.com", "ada", "x"), vec!["password"]),
        (
            (
                "ada@example.com",
                &*"a".repeat(10_000),
                "long enough password",
            ),
            vec!["username"],
        ),
        (
            ("ada@example.com", "1ada", "long enough password"),
            vec!["username"],
        ),
        (
            ("ada@example.com", "ad", "long enough password"),
            vec!["username"],
        ),
        (
            ("ada@example.com", "ada lovelace", "long enough password"),
            vec!["username"],
        ),
        (
            ("ada@example.com", "ada", &*"p".repeat(129)),
            vec!["password"],
        ),
        (("", "", ""), vec!["email", "username", "password"]),
    ];
    for ((email, username, password), fields) in cases {
        let status = expect_code(
            auth.client
                .sign_up(SignUpRequest {
                    email: email.to_owned(),
                    username: username.to_owned(),
                    password: password.to_owned(),
                })
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), fields, "{status:?}");
        assert!(status.message().len() < 1_000, "the message stays short");
    }
    assert!(auth.events_of::<UserRegistered>().await.is_empty());
}

async fn sign_up_refuses_taken_email_and_username(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up("ada@example.com", "ada", "analytical-engine")
        .await;

    let same_email = auth
        .client
        .sign_up(SignUpRequest {
            email: "ADA@example.com".to_owned(),
            username: "someone_else".to_owned(),
            password: "analytical-engine".to_owned(),
        })
        .await;
    let status = expect_code(same_email, Code::AlreadyExists);
    assert!(status.message().contains("email"), "{status:?}");

    let same_username = auth
        .client
        .sign_up(SignUpRequest {
            email: "other@example.com".to_owned(),
            username: "ADA".to_owned(),
            password: "analytical-engine".to_owned(),
        })
        .await;
    let status = expect_code(same_username, Code::AlreadyExists);
    assert!(status.message().contains("username"), "{status:?}");

    // Nothing of the refused sign-ups was written.
    assert_eq!(auth.events_of::<UserRegistered>().await.len(), 1);
    assert_eq!(
        auth.events_of::<EmailVerificationRequested>().await.len(),
        1
    );
    let status = expect_code(
        auth.try_log_in("other@example.com", "analytical-engine")
            .await,
        Code::Unauthenticated,
    );
    assert_eq!(status.message(), "invalid login or password");
}

async fn verification_tokens_are_single_use(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    let account = auth
        .sign_up("ada@example.com", "ada", "analytical-engine")
        .await;
    let token = auth.verification_token("ada@example.com").await;

    let verified = auth
        .client
        .verify_email(VerifyEmailRequest {
            token: token.clone(),
        })
        .await
        .expect("verify")
        .into_inner()
        .account
        .expect("an account");
    assert!(verified.email_verified);
    assert_eq!(verified.id, account.id);
    let events = auth.events_of::<EmailVerified>().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].user_id, account.id);

    let again = auth.client.verify_email(VerifyEmailRequest { token }).await;
    assert_eq!(
        violated_fields(&expect_code(again, Code::InvalidArgument)),
        ["token"]
    );
    for bad in ["", "made-up-token", &"x".repeat(10_000)] {
        let result = auth
            .client
            .verify_email(VerifyEmailRequest {
                token: bad.to_owned(),
            })
            .await;
        assert_eq!(
            violated_fields(&expect_code(result, Code::InvalidArgument)),
            ["token"]
        );
    }
    assert_eq!(auth.events_of::<EmailVerified>().await.len(), 1);
}

async fn resend_answers_alike_and_replaces_earlier_tokens(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up("ada@example.com", "ada", "analytical-engine")
        .await;
    let first_token = auth.verification_token("ada@example.com").await;

    let unknown = auth
        .client
        .resend_verification_email(ResendVerificationEmailRequest {
            email: "nobody@example.com".to_owned(),
        })
        .await
        .expect("same answer for unknown addresses")
        .into_inner();
    let known = auth
        .client
        .resend_verification_email(ResendVerificationEmailRequest {
            email: "Ada@Example.com".to_owned(),
        })
        .await
        .expect("resend")
        .into_inner();
    assert_eq!(unknown, known);
    let mails = auth.events_of::<EmailVerificationRequested>().await;
    assert_eq!(mails.len(), 2, "no mail for the unknown address");
    let second_token = auth.verification_token("ada@example.com").await;
    assert_ne!(first_token, second_token);

    let old = auth
        .client
        .verify_email(VerifyEmailRequest { token: first_token })
        .await;
    expect_code(old, Code::InvalidArgument);
    auth.client
        .verify_email(VerifyEmailRequest {
            token: second_token,
        })
        .await
        .expect("the newest token works");

    // Once verified, nothing more is mailed.
    auth.client
        .resend_verification_email(ResendVerificationEmailRequest {
            email: "ada@example.com".to_owned(),
        })
        .await
        .expect("resend");
    assert_eq!(
        auth.events_of::<EmailVerificationRequested>().await.len(),
        2
    );

    let malformed = auth
        .client
        .resend_verification_email(ResendVerificationEmailRequest {
            email: "not-an-email".to_owned(),
        })
        .await;
    assert_eq!(
        violated_fields(&expect_code(malformed, Code::InvalidArgument)),
        ["email"]
    );
}

async fn resend_requests_mail_once_per_cooldown(backend: Backend) {
    let config = Config {
        mail_cooldown_seconds: 1,
        ..test_config()
    };
    let mut auth = TestAuth::start_with(backend, config).await;
    auth.sign_up("ada@example.com", "ada", "analytical-engine")
        .await;
    let resend = |email: &str| ResendVerificationEmailRequest {
        email: email.to_owned(),
    };

    let mut answers = Vec::new();
    for email in [
        "ada@example.com",
        "ada@example.com",
        "nobody@example.com",
        "Ada@Example.com",
    ] {
        let answer = auth
            .client
            .resend_verification_email(resend(email))
            .await
            .expect("the same answer within the cooldown")
            .into_inner();
        answers.push(answer);
    }
    assert!(answers.windows(2).all(|pair| pair[0] == pair[1]));
    // The sign-up mail and the first resend.
    assert_eq!(
        auth.events_of::<EmailVerificationRequested>().await.len(),
        2
    );

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    auth.client
        .resend_verification_email(resend("ada@example.com"))
        .await
        .expect("resend after the cooldown");
    assert_eq!(
        auth.events_of::<EmailVerificationRequested>().await.len(),
        3
    );
    let token = auth.verification_token("ada@example.com").await;
    auth.client
        .verify_email(VerifyEmailRequest { token })
        .await
        .expect("the token of the newest mail works");
}

async fn my_account_needs_a_valid_token(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    let account = auth
        .sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let tokens = auth.log_in("ada", "analytical-engine").await;

    let mine = auth
        .client
        .get_my_account(signed_in(&tokens.access_token, GetMyAccountRequest {}))
        .await
        .expect("my account")
        .into_inner();
    assert_eq!(mine, account);

    let anonymous = auth.client.get_my_account(GetMyAccountRequest {}).await;
    expect_code(anonymous, Code::Unauthenticated);
    let forged = format!("{}x", tokens.access_token);
    let forged = auth
        .client
        .get_my_account(signed_in(&forged, GetMyAccountRequest {}))
        .await;
    expect_code(forged, Code::Unauthenticated);
}
