//! Password hashing (argon2id), bounded in how many hashes run and wait at once, and the
//! random secrets handed to clients (refresh tokens and mailed tokens), of which only a
//! SHA-256 digest is ever stored.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{self, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Argon2Config;
use crate::domain::Password;

/// Random bytes in every secret token.
const SECRET_TOKEN_BYTES: usize = 32;

/// How long a caller refused for want of hashing capacity is told to wait: a queue's worth
/// of hashes takes well under this.
pub const HASHING_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Why a password could not be hashed or verified.
#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    /// Every hashing slot is taken and the queue is full.
    #[error("too many passwords are being checked right now")]
    AtCapacity,
    /// Hashing itself failed.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Hashes and verifies passwords with argon2id. Hashing is slow on purpose, so it runs on the
/// blocking thread pool and never stalls the async runtime. At most `max_concurrent_hashes`
/// run at once (each holds `memory_kib`) and `max_queued_hashes` wait; one more is refused
/// with [`HashingError::AtCapacity`] rather than queued without bound.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of a random password, verified against when no account matches a log-in name,
    /// so that an unknown account costs as much time as a wrong password.
    dummy_hash: Arc<str>,
    /// One permit per hash running or waiting: taken without waiting, or the hash is refused.
    admitted: Arc<Semaphore>,
    /// One permit per running hash: waited for in the queue.
    running: Arc<Semaphore>,
}

/// The permits a hash holds until its blocking task ends, even when its caller went away.
struct HashingPermits {
    _admitted: OwnedSemaphorePermit,
    _running: OwnedSemaphorePermit,
}

impl PasswordHasher {
    /// A hasher with `config`'s cost parameters and concurrency bounds.
    pub async fn new(config: &Argon2Config) -> anyhow::Result<Self> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|error| anyhow::anyhow!("invalid argon2 parameters: {error}"))?;
        let max_running = usize::try_from(config.max_concurrent_hashes.max(1))?;
        let max_admitted = max_running + usize::try_from(config.max_queued_hashes)?;
        let mut hasher = Self {
            params,
            dummy_hash: Arc::from(""),
            admitted: Arc::new(Semaphore::new(max_admitted)),
            running: Arc::new(Semaphore::new(max_running)),
        };
        let dummy_password = SecretToken::generate().token;
        hasher.dummy_hash = Arc::from(hasher.hash_text(dummy_password).await?);
        Ok(hasher)
    }

    /// A running slot for one hash: a place in the queue right away or a refusal, then a
    /// wait in the queue for a slot.
    async fn hashing_permits(&self) -> Result<HashingPermits, HashingError> {
        let admitted = self.admitted.clone().try_acquire_owned().map_err(|_| {
            crate::counters::count_hashing_refused();
            tracing::debug!("password hashing at capacity: refusing");
            HashingError::AtCapacity
        })?;
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .context("the hashing semaphore is closed")?;
        Ok(HashingPermits {
            _admitted: admitted,
            _running: running,
        })
    }

    /// Runs `work` on the blocking pool once a hashing slot is free; the slot is held until
    /// `work` returns.
    async fn run_hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, HashingError> {
        let permits = self.hashing_permits().await?;
        let outcome = tokio::task::spawn_blocking(move || {
            let _permits = permits;
            work()
        })
        .await
        .context("password hashing task failed")??;
        Ok(outcome)
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, argon2::Version::V0x13, params)
    }

    /// The PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) of `password`, with a fresh salt.
    pub async fn hash(&self, password: &Password) -> Result<String, HashingError> {
        self.hash_text(password.expose().to_owned()).await
    }

    async fn hash_text(&self, clear_text: String) -> Result<String, HashingError> {
        let params = self.params.clone();
        self.run_hashing(move || {
            let salt = SaltString::generate(&mut OsRng);
            Self::argon2(params)
                .hash_password(clear_text.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|error| anyhow::anyhow!("cannot hash a password: {error}"))
        })
        .await
    }

    /// Whether `password` matches `stored_hash`. With no stored hash (no such account) the
    /// dummy hash is verified instead, taking the same time, and the answer is `false`.
    pub async fn verify(
        &self,
        password: &Password,
        stored_hash: Option<&str>,
    ) -> Result<bool, HashingError> {
        let account_exists = stored_hash.is_some();
        let hash = stored_hash.unwrap_or(&self.dummy_hash).to_owned();
        let clear_text = password.expose().to_owned();
        let params = self.params.clone();
        let matches = self
            .run_hashing(move || {
                let parsed = PasswordHash::new(&hash).map_err(|error| {
                    anyhow::anyhow!("stored password hash is malformed: {error}")
                })?;
                // The cost parameters and salt come from the stored hash itself.
                match Self::argon2(params).verify_password(clear_text.as_bytes(), &parsed) {
                    Ok(()) => Ok(true),
                    Err(password_hash::Error::Password) => Ok(false),
                    Err(error) => Err(anyhow::anyhow!("cannot verify a password: {error}")),
                }
            })
            .await?;
        Ok(matches && account_exists)
    }

    /// Whether `stored_hash` was made with other parameters than the configured ones, so that
    /// it should be replaced after the next successful log-in.
    pub fn needs_rehash(&self, stored_hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(stored_hash) else {
            return true;
        };
        let Ok(stored_params) = Params::try_from(&parsed) else {
            return true;
        };
        parsed.algorithm != Algorithm::Argon2id.ident()
            || stored_params.m_cost() != self.params.m_cost()
            || stored_params.t_cost() != self.params.t_cost()
            || stored_params.p_cost() != self.params.p_cost()
    }
}

/// A random secret for a client, and the digest under which it is stored.
#[derive(Clone)]
pub struct SecretToken {
    /// 32 random bytes, base64url without padding: what the client gets.
    pub token: String,
    /// Hex SHA-256 of `token`: what the store keeps.
    pub hash: String,
}

impl SecretToken {
    /// A new random token from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = [0_u8; SECRET_TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let hash = secret_token_hash(&token);
        Self { token, hash }
    }
}

impl std::fmt::Debug for SecretToken {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SecretToken([redacted])")
    }
}

/// The stored digest of a token a client presents.
pub fn secret_token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Config {
        Argon2Config {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            ..Argon2Config::default()
        }
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let hasher = PasswordHasher::new(&cheap()).await.unwrap();
        let password = Password::parse_new("password", "correct horse battery".into()).unwrap();
        let wrong = Password::parse_new("password", "wrong horse battery".into()).unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(hasher.verify(&password, Some(&hash)).await.unwrap());
        assert!(!hasher.verify(&wrong, Some(&hash)).await.unwrap());
        assert!(!hasher.verify(&password, None).await.unwrap());
        assert!(!hasher.needs_rehash(&hash));
        let stronger = PasswordHasher::new(&Argon2Config {
            memory_kib: 128,
            ..cheap()
        })
        .await
        .unwrap();
        assert!(stronger.needs_rehash(&hash));
        assert!(stronger.verify(&password, Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_beyond_the_running_and_queued_ones_are_refused() {
        let hasher = PasswordHasher::new(&Argon2Config {
            max_concurrent_hashes: 1,
            max_queued_hashes: 1,
            ..cheap()
        })
        .await
        .unwrap();
        let password = Password::parse_new("password", "correct horse battery".into()).unwrap();
        let running = hasher.hashing_permits().await.unwrap();
        let queued = tokio::spawn({
            let hasher = hasher.clone();
            let password = password.clone();
            async move { hasher.hash(&password).await }
        });
        while hasher.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            hasher.verify(&password, None).await,
            Err(HashingError::AtCapacity)
        ));
        drop(running);
        queued
            .await
            .unwrap()
            .expect("the queued hash runs once a slot is free");
        assert!(!hasher.verify(&password, None).await.unwrap());
    }

    #[test]
    fn secret_tokens_are_random_and_stored_as_digests() {
        let first = SecretToken::generate();
        let second = SecretToken::generate();
        assert_ne!(first.token, second.token);
        assert_eq!(first.token.len(), 43);
        assert_eq!(first.hash, secret_token_hash(&first.token));
        assert_eq!(first.hash.len(), 64);
        assert!(!format!("{first:?}").contains(&first.token));
    }
}
