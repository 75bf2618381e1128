//! Log-in: credentials, verification and suspension order, tokens, throttling.

use std::time::Duration;

use gigmesh_auth::{AUDIENCE, ISSUER};
use gigmesh_proto::auth::{LogInRequest, Role};
use gigmesh_testing::{Backend, violated_fields};
use gigmesh_types::{millis_from_timestamp, now_millis};
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::support::{
    ACCOUNT_CEILING, ADDRESS_LIMIT, FIRST_DELAY_SECONDS, FREE_FAILURES_PER_NETWORK,
    MAX_DELAY_SECONDS, TestAuth, evaluated_and_throttled, expect_code, log_in_request_from,
    roles_of, slow_hashing_config,
};

gigmesh_testing::on_sqlite_and_postgres!(
    log_in_with_email_or_username_issues_a_token_pair,
    wrong_password_and_unknown_account_read_the_same,
    unverified_address_is_told_only_after_the_password,
    log_in_reports_missing_fields,
    failed_log_ins_slow_down_the_account_from_their_network_only,
    an_attacker_elsewhere_cannot_lock_the_owner_out,
    an_attacker_waits_twice_as_long_after_each_failure,
    a_successful_log_in_clears_the_count_of_its_network_only,
    the_account_ceiling_stops_distributed_guessing_but_lets_the_owner_in,
    failed_log_ins_are_throttled_per_client_address,
    one_ipv6_64_shares_one_address_limit,
    an_ipv4_mapped_address_shares_the_ipv4_address_limit,
    concurrent_wrong_passwords_are_evaluated_at_most_the_limit,
    concurrent_guesses_from_many_networks_are_evaluated_at_most_the_ceiling,
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

/// Asserts a throttled answer that says to wait `seconds`, in its message and its retry
/// info: the wait left, rounded up to whole seconds, so a second less if the call took that
/// long.
#[track_caller]
fn assert_waits(status: &tonic::Status, seconds: u64) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let retry = status.get_details_retry_info().expect("retry info");
    let told = retry.retry_delay.expect("retry delay").as_secs();
    assert!((seconds - 1..=seconds).contains(&told), "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("retry in {told} seconds")),
        "{status:?}"
    );
}

/// Moves every series of failures from a network `seconds` into the past, as if that much
/// time had gone by.
async fn let_time_pass(auth: &TestAuth, seconds: u64) {
    let millis = i64::try_from(seconds * 1_000).expect("millis");
    sqlx::query(
        "UPDATE login_network_failures SET last_failure_time = last_failure_time - $1, \
         retry_time = retry_time - $1",
    )
    .bind(millis)
    .execute(auth.db().pool())
    .await
    .expect("age the failures");
}

// Per account and client network: a network's failures slow down only that network's
// attempts for the account. (Before, 3 failures from anywhere refused the account
// everywhere for the rest of the 15-minute window, which let anyone lock a known user out.)
async fn failed_log_ins_slow_down_the_account_from_their_network_only(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    auth.sign_up_verified("grace@example.com", "grace", "compiler-a-0")
        .await;

    for _ in 0..FREE_FAILURES_PER_NETWORK {
        expect_code(
            auth.try_log_in("ada", "difference-engine").await,
            Code::Unauthenticated,
        );
    }
    // Even the right password waits now from this network, by email as by username.
    for login in ["ada", "ada@example.com"] {
        let status = expect_code(
            auth.try_log_in(login, "analytical-engine").await,
            Code::ResourceExhausted,
        );
        let retry = status.get_details_retry_info().expect("retry info");
        let delay = retry.retry_delay.expect("retry delay");
        assert!(
            delay > Duration::from_secs(FIRST_DELAY_SECONDS - 5)
                && delay <= Duration::from_secs(FIRST_DELAY_SECONDS),
            "{status:?}"
        );
        assert!(status.message().contains("retry in"), "{status:?}");
    }
    // Other accounts from the same network are not affected, nor the account elsewhere.
    auth.log_in("grace", "compiler-a-0").await;
    auth.try_log_in_from("ada", "analytical-engine", "198.51.100.1", "browser")
        .await
        .expect("the account from another network");

    // Unknown names are throttled the same way, so throttling tells nothing either.
    for _ in 0..FREE_FAILURES_PER_NETWORK {
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

async fn an_attacker_elsewhere_cannot_lock_the_owner_out(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    for _ in 0..50 {
        let refused = auth
            .try_log_in_from("ada", "difference-engine", "203.0.113.7", "attacker")
            .await
            .expect_err("a wrong password");
        assert!(matches!(
            refused.code(),
            Code::Unauthenticated | Code::ResourceExhausted
        ));
    }
    auth.try_log_in_from("ada", "analytical-engine", "198.51.100.20", "owner")
        .await
        .expect("the owner logs in from their own network");
}

async fn an_attacker_waits_twice_as_long_after_each_failure(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let attacker = "203.0.113.7";
    for _ in 0..FREE_FAILURES_PER_NETWORK {
        expect_code(
            auth.try_log_in_from("ada", "difference-engine", attacker, "curl")
                .await,
            Code::Unauthenticated,
        );
    }
    let mut waits = Vec::new();
    let mut wait = FIRST_DELAY_SECONDS;
    for _ in 0..5 {
        waits.push(wait);
        // A refused attempt counts nothing: asking again waits as long.
        for _ in 0..2 {
            let refused = expect_code(
                auth.try_log_in_from("ada", "difference-engine", attacker, "curl")
                    .await,
                Code::ResourceExhausted,
            );
            assert_waits(&refused, wait);
        }
        let_time_pass(&auth, wait).await;
        expect_code(
            auth.try_log_in_from("ada", "difference-engine", attacker, "curl")
                .await,
            Code::Unauthenticated,
        );
        wait = (wait * 2).min(MAX_DELAY_SECONDS);
    }
    assert_eq!(waits, [30, 60, 120, 240, 240]);
    // The right password waits too, and the owner elsewhere does not.
    let refused = expect_code(
        auth.try_log_in_from("ada", "analytical-engine", attacker, "curl")
            .await,
        Code::ResourceExhausted,
    );
    assert!(refused.get_details_retry_info().is_some(), "{refused:?}");
    auth.try_log_in_from("ada", "analytical-engine", "198.51.100.20", "owner")
        .await
        .expect("the owner elsewhere");
}

async fn a_successful_log_in_clears_the_count_of_its_network_only(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let (owner, attacker) = ("198.51.100.20", "203.0.113.7");
    for _ in 0..FREE_FAILURES_PER_NETWORK {
        expect_code(
            auth.try_log_in_from("ada", "difference-engine", attacker, "curl")
                .await,
            Code::Unauthenticated,
        );
    }
    for _round in 0..3 {
        for _ in 0..FREE_FAILURES_PER_NETWORK - 1 {
            expect_code(
                auth.try_log_in_from("ada", "difference-engine", owner, "browser")
                    .await,
                Code::Unauthenticated,
            );
        }
        auth.try_log_in_from("ada", "analytical-engine", owner, "browser")
            .await
            .expect("the owner's typos are forgotten at each log-in");
    }
    // The owner's log-ins left the attacker's network waiting.
    let refused = expect_code(
        auth.try_log_in_from("ada", "analytical-engine", attacker, "curl")
            .await,
        Code::ResourceExhausted,
    );
    assert!(refused.get_details_retry_info().is_some(), "{refused:?}");
}

async fn the_account_ceiling_stops_distributed_guessing_but_lets_the_owner_in(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let owner = "2001:db8:1:2::1";
    auth.try_log_in_from("ada", "analytical-engine", owner, "browser")
        .await
        .expect("the owner's network becomes known");

    // Guesses spread over networks, each below its free failures, up to the ceiling.
    let per_network = FREE_FAILURES_PER_NETWORK - 1;
    for login in ["ada", "babbage"] {
        for guess in 0..ACCOUNT_CEILING {
            let network = format!("203.0.113.{}", guess / per_network + 1);
            expect_code(
                auth.try_log_in_from(login, "difference-engine", &network, "botnet")
                    .await,
                Code::Unauthenticated,
            );
        }
        // Any new network is refused until the window ends, whatever the password.
        let refused = expect_code(
            auth.try_log_in_from(login, "analytical-engine", "192.0.2.99", "botnet")
                .await,
            Code::ResourceExhausted,
        );
        assert!(refused.message().contains("retry in"), "{refused:?}");
        let retry = refused.get_details_retry_info().expect("retry info");
        let delay = retry.retry_delay.expect("retry delay");
        assert!(
            delay > Duration::from_secs(800) && delay <= Duration::from_secs(900),
            "{refused:?}"
        );
    }

    // The network the owner logged in from (any address of its /64) still gets in, and
    // a typo there is answered as one, not locked out.
    expect_code(
        auth.try_log_in_from("ada", "difference-engine", "2001:db8:1:2::7", "browser")
            .await,
        Code::Unauthenticated,
    );
    auth.try_log_in_from("ada", "analytical-engine", "2001:db8:1:2::7", "browser")
        .await
        .expect("the owner from a known network");
    // Another /64 is not known.
    expect_code(
        auth.try_log_in_from("ada", "analytical-engine", "2001:db8:1:3::1", "browser")
            .await,
        Code::ResourceExhausted,
    );
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

    let attempts = 3 * FREE_FAILURES_PER_NETWORK;
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
    // Exactly the free ones: those are told by their count, whichever guess read the clock
    // first, and the next waits.
    assert_eq!(
        evaluated, FREE_FAILURES_PER_NETWORK,
        "{evaluated} of {attempts} concurrent guesses from one network were evaluated"
    );
    assert_eq!(evaluated + throttled, attempts);
    expect_code(
        auth.try_log_in("ada", "analytical-engine").await,
        Code::ResourceExhausted,
    );
}

async fn concurrent_guesses_from_many_networks_are_evaluated_at_most_the_ceiling(backend: Backend) {
    let mut auth = TestAuth::start_with(backend, slow_hashing_config()).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;

    let attempts = 3 * ACCOUNT_CEILING;
    let mut guesses = tokio::task::JoinSet::new();
    for attempt in 0..attempts {
        let mut client = auth.client.clone();
        let request = log_in_request_from(
            "ada",
            &format!("guess-number-{attempt}"),
            &format!("203.0.113.{attempt}"),
            "botnet",
        );
        guesses.spawn(async move { client.log_in(request).await.map(drop) });
    }
    let (evaluated, throttled) = evaluated_and_throttled(guesses, Code::Unauthenticated).await;
    assert_eq!(
        evaluated, ACCOUNT_CEILING,
        "{evaluated} of {attempts} concurrent guesses from many networks were evaluated"
    );
    assert_eq!(evaluated + throttled, attempts);
    expect_code(
        auth.try_log_in_from("ada", "analytical-engine", "192.0.2.99", "browser")
            .await,
        Code::ResourceExhausted,
    );
}
