//! Timing calls: one at a time with the targets taking turns, many at once against one
//! target, and argon2id password verification on its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use gigmesh_auth::TokenVerifier;
use gigmesh_auth_service::Argon2Config;
use gigmesh_proto::auth::auth_service_client::AuthServiceClient;
use gigmesh_proto::auth::{GetMyAccountRequest, Jwk, LogInRequest};
use tokio::task::JoinSet;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use crate::mesh::{LOGIN, PASSWORD};
use crate::stats::Latencies;

/// The `authorization` value that makes a call signed in with `access_token`.
pub fn bearer(access_token: &str) -> anyhow::Result<MetadataValue<Ascii>> {
    format!("Bearer {access_token}")
        .parse()
        .context("the access token is not a valid header value")
}

/// The call being measured.
#[derive(Clone)]
pub enum Call {
    /// `GetMyAccount` with an access token: a signed-in call with tiny messages.
    GetMyAccount { authorization: MetadataValue<Ascii> },
    /// `LogIn` with the benchmark account's username and password.
    LogIn,
}

/// Where calls go: one address, reached over one channel (one HTTP/2 connection) that every
/// call to it shares, whichever kind of call and however many are in flight.
#[derive(Clone)]
pub struct Target {
    pub name: &'static str,
    client: AuthServiceClient<Channel>,
}

impl Target {
    /// Connects to `address` the way gigmesh's own clients do (HTTP/2, `TCP_NODELAY`).
    pub async fn connect(name: &'static str, address: SocketAddr) -> anyhow::Result<Self> {
        let channel = Endpoint::from_shared(format!("http://{address}"))?
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("cannot connect to {name} at {address}"))?;
        Ok(Self {
            name,
            client: AuthServiceClient::new(channel),
        })
    }

    /// Signs in and returns the access token.
    pub async fn sign_in(&mut self) -> anyhow::Result<String> {
        let response = self
            .client
            .log_in(log_in_request())
            .await
            .with_context(|| format!("cannot sign in through {}", self.name))?
            .into_inner();
        response
            .tokens
            .map(|tokens| tokens.access_token)
            .context("the sign-in answer carries no tokens")
    }

    /// Makes `call` once and waits for the whole answer.
    async fn call_once(&mut self, call: &Call) -> anyhow::Result<()> {
        let outcome = match call {
            Call::GetMyAccount { authorization } => {
                let mut request = tonic::Request::new(GetMyAccountRequest {});
                request
                    .metadata_mut()
                    .insert("authorization", authorization.clone());
                self.client.get_my_account(request).await.map(drop)
            }
            Call::LogIn => self.client.log_in(log_in_request()).await.map(drop),
        };
        outcome.with_context(|| format!("a call through {} failed", self.name))
    }
}

fn log_in_request() -> LogInRequest {
    LogInRequest {
        login: LOGIN.to_owned(),
        password: PASSWORD.to_owned(),
    }
}

/// The targets in the order they take their turn in `round`: each round starts with the next
/// target, so no target always follows the same other one.
fn turns(round: usize, target_count: usize) -> impl Iterator<Item = usize> {
    (0..target_count).map(move |offset| (round + offset) % target_count)
}

/// Times `calls` calls per target, one call in flight at a time, after `warmup` untimed calls
/// per target. The targets take turns call by call, so that whatever else the machine does
/// meanwhile (and the database growing) affects every target alike. Latencies are returned in
/// the order of `targets`.
pub async fn one_at_a_time(
    targets: &mut [Target],
    call: &Call,
    warmup: usize,
    calls: usize,
) -> anyhow::Result<Vec<Latencies>> {
    let target_count = targets.len();
    for round in 0..warmup {
        for index in turns(round, target_count) {
            targets[index].call_once(call).await?;
        }
    }
    let mut latencies: Vec<Latencies> = (0..target_count)
        .map(|_| Latencies::with_capacity(calls))
        .collect();
    for round in 0..calls {
        for index in turns(round, target_count) {
            let started = Instant::now();
            targets[index].call_once(call).await?;
            latencies[index].record(started.elapsed());
        }
    }
    Ok(latencies)
}

/// Latencies and throughput of calls made with many in flight.
#[derive(Debug, Default)]
pub struct UnderLoad {
    pub latencies: Latencies,
    pub calls: usize,
    pub elapsed: Duration,
}

impl UnderLoad {
    /// Completed calls per second.
    pub fn calls_per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Times `calls` calls per target with `concurrency` calls in flight on the target's one
/// channel. Each target's calls are split into `rounds` bursts and the targets take turns
/// burst by burst, so drift affects every target alike; a short untimed burst per target
/// comes first. Results are returned in the order of `targets`.
pub async fn many_at_once(
    targets: &[Target],
    call: &Call,
    concurrency: usize,
    calls: usize,
    rounds: usize,
) -> anyhow::Result<Vec<UnderLoad>> {
    let target_count = targets.len();
    for target in targets {
        burst(target, call, concurrency, concurrency * 20).await?;
    }
    let rounds = rounds.clamp(1, calls.max(1));
    let mut results: Vec<UnderLoad> = (0..target_count).map(|_| UnderLoad::default()).collect();
    for round in 0..rounds {
        let calls_this_round = calls / rounds + usize::from(round < calls % rounds);
        for index in turns(round, target_count) {
            let measured = burst(&targets[index], call, concurrency, calls_this_round).await?;
            let result = &mut results[index];
            result.calls += measured.calls;
            result.elapsed += measured.elapsed;
            result.latencies.extend(measured.latencies);
        }
    }
    Ok(results)
}

/// `calls` calls against `target` by `concurrency` callers sharing its channel, each starting
/// its next call as soon as its last one is answered.
async fn burst(
    target: &Target,
    call: &Call,
    concurrency: usize,
    calls: usize,
) -> anyhow::Result<UnderLoad> {
    let started_calls = Arc::new(AtomicUsize::new(0));
    let mut callers = JoinSet::new();
    let started = Instant::now();
    for _ in 0..concurrency.max(1) {
        let mut target = target.clone();
        let call = call.clone();
        let started_calls = started_calls.clone();
        let expected_per_caller = calls / concurrency.max(1) + 1;
        callers.spawn(async move {
            let mut latencies = Latencies::with_capacity(expected_per_caller);
            while started_calls.fetch_add(1, Ordering::Relaxed) < calls {
                let call_started = Instant::now();
                target.call_once(&call).await?;
                latencies.record(call_started.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        });
    }
    let mut latencies = Latencies::with_capacity(calls);
    while let Some(joined) = callers.join_next().await {
        latencies.extend(joined.context("a caller task failed")??);
    }
    Ok(UnderLoad {
        latencies,
        calls,
        elapsed: started.elapsed(),
    })
}

/// Times `times` argon2id verifications of the benchmark password with `config`'s cost on
/// one thread, outside any server: the floor under a sign-in's latency.
pub async fn password_verification(
    config: &Argon2Config,
    times: usize,
) -> anyhow::Result<Latencies> {
    let params = argon2::Params::new(
        config.memory_kib,
        config.iterations,
        config.parallelism,
        None,
    )
    .map_err(|error| anyhow::anyhow!("invalid argon2 parameters: {error}"))?;
    tokio::task::spawn_blocking(move || {
        let argon2 =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = SaltString::encode_b64(b"gigmesh-bench-salt")
            .map_err(|error| anyhow::anyhow!("invalid salt: {error}"))?;
        let hash = argon2
            .hash_password(PASSWORD.as_bytes(), &salt)
            .map_err(|error| anyhow::anyhow!("cannot hash: {error}"))?
            .to_string();
        let parsed =
            PasswordHash::new(&hash).map_err(|error| anyhow::anyhow!("bad hash: {error}"))?;
        let mut latencies = Latencies::with_capacity(times);
        for _ in 0..times {
            let started = Instant::now();
            argon2
                .verify_password(PASSWORD.as_bytes(), &parsed)
                .map_err(|error| anyhow::anyhow!("cannot verify: {error}"))?;
            latencies.record(started.elapsed());
        }
        Ok(latencies)
    })
    .await
    .context("the argon2 task failed")?
}

/// Times `times` verifications of `access_token`, each by a verifier with `jwks` that has
/// not seen the token yet: the full check (Ed25519 signature, `exp`, `iss`, `aud`).
pub async fn first_token_verification(
    jwks: &[Jwk],
    access_token: &str,
    times: usize,
) -> anyhow::Result<Latencies> {
    let mut latencies = Latencies::with_capacity(times);
    for _ in 0..times {
        let verifier = TokenVerifier::from_jwks(jwks.to_vec());
        let started = Instant::now();
        verifier
            .verify(access_token)
            .await
            .context("the access token does not verify")?;
        latencies.record(started.elapsed());
    }
    Ok(latencies)
}

/// Times `times` verifications of `access_token` by `verifier`, which has verified it before:
/// what the gateway and the service spend on a token a client sends again.
pub async fn repeated_token_verification(
    verifier: &TokenVerifier,
    access_token: &str,
    times: usize,
) -> anyhow::Result<Latencies> {
    verifier
        .verify(access_token)
        .await
        .context("the access token does not verify")?;
    let mut latencies = Latencies::with_capacity(times);
    for _ in 0..times {
        let started = Instant::now();
        verifier
            .verify(access_token)
            .await
            .context("the access token does not verify")?;
        latencies.record(started.elapsed());
    }
    Ok(latencies)
}
