//! Log-in: credentials, verification and suspension order, tokens, throttling.

use std::time::Duration;

use gigmesh_auth::{AUDIENCE, ISSUER};
use gigmesh_proto::auth::{LogInRequest, Role};
use gigmesh_testing::{Backend, violated_fields};
use gigmesh_types::{millis_from_timestamp, now_millis};
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::support::{
    ACCOUNT_LIMIT, ADDRESS_LIMIT, TestAuth, evaluated_and_throttled, expect_code, roles_of,
    slow_hashing_config,
};

gigmesh_testing::on_sqlite_and_postgres!(
    log_in_with_email_or_username_issues_a_token_pair,
    wrong_password_and_unknown_account_read_the_same,
    unverified_address_is_told_only_after_the_password,
    log_in_reports_missing_fields,
    failed_log_ins_are_throttled_per_account,
    a_successful_log_in_resets_the_account_counter,
    failed_log_ins_are_throttled_per_client_address,
    one_ipv6_64_shares_one_address_limit,
    an_ipv4_mapped_address_shares_the_ipv4_address_limit,
    concurrent_wrong_passwords_are_evaluated_at_most_the_limit,
);

async fn log_in_with_email_or_username_issues_a_token_pair(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    let account = auth
        .sign_up_verified("ada@example.com", "Ada", "analytical-engine")
        .await;

    for login in ["ada@example.com", " ADA@example.COM", "Ada", "ada", "ADA"] {
        let before = now_millis();
        let response = auth
            .try_log_in(login, "analytical-engine")
            .await
            .unwrap_or_else(|status| panic!("log in as {login:?}: {status:?}"));
        assert_eq!(response.account.as_ref(), Some(&account));
        let tokens = response.tokens.expect("tokens");
        assert_eq!(tokens.token_type, "Bearer");
        assert_eq!(tokens.refresh_token.len(), 43);
        let claims = auth.claims(&tokens.access_token).await;
        assert_eq!(claims.sub, account.id);
        assert_eq!(claims.roles, ["buyer"]);
        assert_eq!(claims.iss, ISSUER);
        assert_eq!(claims.aud, AUDIENCE);
        assert_eq!(claims.exp - claims.iat, 15 * 60);
        assert!(!claims.jti.is_empty());
        assert!(!claims.sid.is_empty());
        let access_expire = tokens.access_token_expire_time.expect("access expiry");
        assert_eq!(access_expire.seconds, claims.exp);
        let refresh_expire =
            millis_from_timestamp(&tokens.refresh_token_expire_time.expect("refresh expiry"));
        let thirty_days = 30 * 24 * 60 * 60 * 1000;
        assert!(refresh_expire >= before + thirty_days);
        assert!(refresh_expire <= now_millis() + thirty_days);
    }
    assert_eq!(roles_of(&account), [Role::Buyer]);
}

async fn wrong_password_and_unknown_account_read_the_same(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;

    let wrong_password = expect_code(
        auth.try_log_in("ada", "difference-engine").await,
        Code::Unauthenticated,
    );
    let unknown_name = expect_code(
        auth.try_log_in("babbage", "difference-engine").await,
        Code::Unauthenticated,
    );
    let unknown_email = expect_code(
        auth.try_log_in("babbage@example.com", "difference-engine")
            .await,
        Code::Unauthenticated,
    );
    assert_eq!(wrong_password.message(), "invalid login or password");
    assert_eq!(unknown_name.message(), wrong_password.message());
    assert_eq!(unknown_email.message(), wrong_password.message());
}

async fn unverified_address_is_told_only_after_the_password(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up("ada@example.com", "ada", "analytical-engine")
        .await;

    let wrong = expect_code(
        auth.try_log_in("ada", "difference-engine").await,
        Code::Unauthenticated,
    );
    assert_eq!(wrong.message(), "invalid login or password");
    let right = expect_code(
        auth.try_log_in("ada", "analytical-engine").await,
        Code::FailedPrecondition,
    );
    assert!(right.message().contains("verif"), "{right:?}");

    let token = auth.verification_token("ada@example.com").await;
    auth.client
        .verify_email(gigmesh_proto::auth::VerifyEmailRequest { token })
        .await
        .expect("verify");
    auth.log_in("ada", "analytical-engine").await;
}

async fn log_in_reports_missing_fields(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    let empty = auth
        .client
        .log_in(LogInRequest {
            login: String::new(),
            password: String::new(),
        })
        .await;
    let status = expect_code(empty, Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["login", "password"]);
    let huge = auth
        .client
        .log_in(LogInRequest {
            login: "a".repeat(10_000),
            password: "analytical-engine".to_owned(),
        })
        .await;
    assert_eq!(
        violated_fields(&expect_code(huge, Code::InvalidArgument)),
        ["login"]
    );
}

async fn failed_log_ins_are_throttled_per_account(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    auth.sign_up_verified("grace@example.com", "grace", "compiler-a-0")
        .await;

    for _ in 0..ACCOUNT_LIMIT {
        expect_code(
            auth.try_log_in("ada", "difference-engine").await,
            Code::Unauthenticated,
        );
    }
    // Even the right password is refused now, by email as by username.
    for login in ["ada", "ada@example.com"] {
        let status = expect_code(
            auth.try_log_in(login, "analytical-engine").await,
            Code::ResourceExhausted,
        );
        assert!(status.message().contains("retry in"), "{status:?}");
        let retry = status.get_details_retry_info().expect("retry info");
        let delay = retry.retry_delay.expect("retry delay");
        assert!(delay > Duration::from_secs(800) && delay <= Duration::from_secs(900));
    }
    // Other accounts are not affected.
    auth.log_in("grace", "compiler-a-0").await;

    // Unknown names are throttled the same way, so throttling tells nothing either.
    for _ in 0..ACCOUNT_LIMIT {
        expect_code(
            auth.try_log_in("babbage", "difference-engine").await,
            Code::Unauthenticated,
        );
    }
    expect_code(
        auth.try_log_in("babbage", "difference-engine").await,
        Code::ResourceExhausted,
    );
}

async fn a_successful_log_in_resets_the_account_counter(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    for _round in 0..3 {
        for _ in 0..ACCOUNT_LIMIT - 1 {
            expect_code(
                auth.try_log_in("ada", "difference-engine").await,
                Code::Unauthenticated,
            );
        }
        auth.log_in("ada", "analytical-engine").await;
    }
}

async fn failed_log_ins_are_throttled_per_client_address(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let attacker = "203.0.113.7";
    for attempt in 0..ADDRESS_LIMIT {
        let login = format!("guess{attempt}");
        expect_code(
            auth.try_log_in_from(&login, "difference-engine", attacker, "curl")
                .await,
            Code::Unauthenticated,
        );
    }
    let status = expect_code(
        auth.try_log_in_from("ada", "analytical-engine", attacker, "curl")
            .await,
        Code::ResourceExhausted,
    );
    assert!(status.get_details_retry_info().is_some());
    auth.try_log_in_from("ada", "analytical-engine", "198.51.100.1", "browser")
        .await
        .expect("another address is not throttled");
}

async fn one_ipv6_64_shares_one_address_limit(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let addresses_of_one_64 = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"];
    for attempt in 0..ADDRESS_LIMIT {
        let login = format!("guess{attempt}");
        let address = addresses_of_one_64[attempt as usize % addresses_of_one_64.len()];
        expect_code(
            auth.try_log_in_from(&login, "difference-engine", address, "curl")
                .await,
            Code::Unauthenticated,
        );
    }
    for address in addresses_of_one_64
        .into_iter()
        .chain(["2001:db8:1:2::abcd"])
    {
        let status = expect_code(
            auth.try_log_in_from("ada", "analytical-engine", address, "curl")
                .await,
            Code::ResourceExhausted,
        );
        assert!(status.get_details_retry_info().is_some(), "{status:?}");
    }
    auth.try_log_in_from("ada", "analytical-engine", "2001:db8:1:3::1", "browser")
        .await
        .expect("another /64 is not throttled");
}

async fn an_ipv4_mapped_address_shares_the_ipv4_address_limit(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    for attempt in 0..ADDRESS_LIMIT {
        let login = format!("guess{attempt}");
        let address = if attempt % 2 == 0 {
            "203.0.113.7"
        } else {
            "::ffff:203.0.113.7"
        };
        expect_code(
            auth.try_log_in_from(&login, "difference-engine", address, "curl")
                .await,
            Code::Unauthenticated,
        );
    }
    expect_code(
        auth.try_log_in_from("ada", "analytical-engine", "203.0.113.7", "curl")
            .await,
        Code::ResourceExhausted,
    );
    auth.try_log_in_from("ada", "analytical-engine", "203.0.113.8", "browser")
        .await
        .expect("the next IPv4 address is not throttled");
}

async fn concurrent_wrong_passwords_are_evaluated_at_most_the_limit(backend: Backend) {
    let mut auth = TestAuth::start_with(backend, slow_hashing_config()).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;

    let attempts = 3 * ACCOUNT_LIMIT;
    let mut guesses = tokio::task::JoinSet::new();
    for attempt in 0..attempts {
        let mut client = auth.client.clone();
        guesses.spawn(async move {
            client
                .log_in(LogInRequest {
                    login: "ada".to_owned(),
                    password: format!("guess-number-{attempt}"),
                })
                .await
                .map(drop)
        });
    }
    let (evaluated, throttled) = evaluated_and_throttled(guesses, Code::Unauthenticated).await;
    assert!(
        (1..=ACCOUNT_LIMIT).contains(&evaluated),
        "{evaluated} of {attempts} concurrent guesses were evaluated"
    );
    assert_eq!(evaluated + throttled, attempts);
    expect_code(
        auth.try_log_in("ada", "analytical-engine").await,
        Code::ResourceExhausted,
    );
}
