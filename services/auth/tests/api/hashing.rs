//! Password hashing capacity: hashes beyond the running and queued ones are refused with a
//! retry hint instead of piling up memory, and calls that hash nothing keep answering.

use std::time::Duration;

use gigmesh_auth_service::{Argon2Config, Config, ThrottleConfig};
use gigmesh_proto::auth::{GetJwksRequest, LogInRequest, SignUpRequest};
use gigmesh_testing::Backend;
use tokio::task::JoinSet;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::support::{TestAuth, test_config};

gigmesh_testing::on_sqlite_and_postgres!(
    hashing_beyond_its_queue_is_refused_with_a_retry_hint,
    a_guess_refused_for_capacity_is_no_failure,
);

/// Concurrent sign-ups and as many log-ins with unknown names.
const CALLS_OF_EACH_KIND: usize = 8;

/// One hash at a time and one waiting, each slow enough that a burst finds them busy, and
/// no throttling of failed log-ins to tell apart from the hashing limit.
/// The sign-up of the burst's `call`-th new account: each one hashes a password.
fn sign_up_request(call: impl std::fmt::Display) -> SignUpRequest {
    SignUpRequest {
        email: format!("user{call}@example.com"),
        username: format!("user{call}"),
        password: "analytical-engine".to_owned(),
    }
}

fn one_hash_at_a_time() -> Config {
    let base = test_config();
    Config {
        argon2: Argon2Config {
            memory_kib: 8 * 1024,
            iterations: 3,
            parallelism: 1,
            max_concurrent_hashes: 1,
            max_queued_hashes: 1,
        },
        throttle: ThrottleConfig {
            max_failures_per_account: 1_000,
            max_failures_per_address: 1_000,
            ..base.throttle.clone()
        },
        ..base
    }
}

async fn hashing_beyond_its_queue_is_refused_with_a_retry_hint(backend: Backend) {
    let mut auth = TestAuth::start_with(backend, one_hash_at_a_time()).await;

    let mut burst = JoinSet::new();
    for call in 0..CALLS_OF_EACH_KIND {
        let mut client = auth.client.clone();
        burst.spawn(async move { client.sign_up(sign_up_request(call)).await.map(drop) });
        let mut client = auth.client.clone();
        burst.spawn(async move {
            client
                .log_in(LogInRequest {
                    login: format!("nobody{call}"),
                    password: "difference-engine".to_owned(),
                })
                .await
                .map(drop)
        });
    }
    // Calls that hash nothing answer while the burst is hashing.
    for _ in 0..3 {
        let jwks = tokio::time::timeout(
            Duration::from_secs(2),
            auth.client.get_jwks(GetJwksRequest {}),
        )
        .await
        .expect("GetJwks answers while passwords are hashed")
        .expect("GetJwks");
        assert!(!jwks.into_inner().keys.is_empty());
    }

    let mut refused = 0;
    while let Some(outcome) = burst.join_next().await {
        let Err(status) = outcome.expect("the call task") else {
            continue;
        };
        match status.code() {
            Code::Unauthenticated => {}
            Code::ResourceExhausted => {
                refused += 1;
                let retry = status.get_details_retry_info().expect("retry info");
                let delay = retry.retry_delay.expect("retry delay");
                assert!(delay > Duration::ZERO && delay <= Duration::from_secs(5));
            }
            _ => panic!("unexpected status: {status:?}"),
        }
    }
    assert!(refused > 0, "no hash was refused");

    // Capacity is back once the burst is over.
    auth.sign_up("ada@example.com", "ada", "analytical-engine")
        .await;
}

async fn a_guess_refused_for_capacity_is_no_failure(backend: Backend) {
    let free_guesses = 10;
    let base = one_hash_at_a_time();
    let config = Config {
        argon2: Argon2Config {
            memory_kib: 32 * 1024,
            iterations: 4,
            ..base.argon2.clone()
        },
        throttle: ThrottleConfig {
            free_failures_per_network: free_guesses,
            ..base.throttle.clone()
        },
        ..base
    };
    let mut auth = TestAuth::start_with(backend, config).await;
    auth.sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;

    // The free guesses of one network at once, among sign-ups that keep the one hashing
    // slot and its queue busy: some guesses find no room.
    let mut burst = JoinSet::new();
    for call in 0..free_guesses {
        let mut client = auth.client.clone();
        burst.spawn(async move {
            client
                .sign_up(sign_up_request(call))
                .await
                .map(|_| None)
                .or_else(|status| match status.code() {
                    Code::ResourceExhausted => Ok(None),
                    _ => Err(status),
                })
        });
        let mut client = auth.client.clone();
        burst.spawn(async move {
            let status = client
                .log_in(LogInRequest {
                    login: "ada".to_owned(),
                    password: format!("guess-number-{call}"),
                })
                .await
                .expect_err("a wrong guess");
            Ok(Some(status))
        });
    }
    let (mut evaluated, mut refused) = (0, 0);
    while let Some(outcome) = burst.join_next().await {
        let Some(status) = outcome.expect("the call task").expect("a sign-up") else {
            continue;
        };
        match status.code() {
            Code::Unauthenticated => evaluated += 1,
            Code::ResourceExhausted => {
                assert!(status.message().contains("being checked"), "{status:?}");
                refused += 1;
            }
            _ => panic!("unexpected status: {status:?}"),
        }
    }
    assert!(refused > 0, "no guess was refused for capacity");

    // Only the evaluated guesses were failures: the network has the others left.
    for _ in evaluated..free_guesses {
        assert_eq!(
            auth.try_log_in("ada", "difference-engine")
                .await
                .expect_err("a wrong password")
                .code(),
            Code::Unauthenticated
        );
    }
    let throttled = auth
        .try_log_in("ada", "analytical-engine")
        .await
        .expect_err("the network waits now");
    assert!(
        throttled.message().contains("too many failed log-ins"),
        "{throttled:?}"
    );
}
