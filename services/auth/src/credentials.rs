//! Password hashing (argon2id), bounded in how many hashes run and wait at once, and the
//! random secrets handed to clients (refresh tokens and mailed tokens), of which only a
//! SHA-256 digest is ever stored.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{self, Output, ParamsString, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
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
///
/// The argon2 memory is not allocated per hash: every hash and verification borrows one of
/// at most `max_concurrent_hashes` block buffers of `memory_kib`, each allocated on first
/// use and kept for the hasher's life, so the blocks do not go through the allocator on each
/// hash. Only a stored hash made with more memory than `memory_kib` is verified in a buffer
/// allocated for that call.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// The argon2 block buffers not in use by a running hash.
    memory: Arc<MemoryPool>,
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

/// Argon2 block buffers of `block_count` blocks each, kept between hashes. A buffer is taken
/// only while a running permit is held and given back before the permit is released, so
/// there are never more buffers than running slots.
struct MemoryPool {
    block_count: usize,
    idle: Mutex<Vec<Vec<Block>>>,
}

impl MemoryPool {
    /// An idle buffer, or a new one when every buffer made so far is in use (the first hashes
    /// on each slot).
    fn take(&self) -> Vec<Block> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        idle.unwrap_or_else(|| vec![Block::default(); self.block_count])
    }

    /// Keeps `blocks` for the next hash.
    fn give_back(&self, blocks: Vec<Block>) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(blocks);
    }

    /// Runs `work` on a buffer of at least `block_count` blocks: a pooled one when that is
    /// large enough, given back afterwards (also when `work` panics).
    fn with_blocks<T>(&self, block_count: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
        if block_count > self.block_count {
            // A stored hash made with more memory than the configured cost (the cost was
            // lowered since). Growing a pooled buffer would keep that larger size for every
            // later hash, so this verification gets a buffer of its own, freed when it ends;
            // such hashes are re-hashed with the configured cost at their next log-in.
            let mut blocks = vec![Block::default(); block_count];
            return work(&mut blocks);
        }
        struct Borrowed<'pool> {
            pool: &'pool MemoryPool,
            blocks: Vec<Block>,
        }
        impl Drop for Borrowed<'_> {
            fn drop(&mut self) {
                self.pool.give_back(std::mem::take(&mut self.blocks));
            }
        }
        let mut borrowed = Borrowed {
            pool: self,
            blocks: self.take(),
        };
        work(&mut borrowed.blocks[..block_count])
    }
}

/// The argon2 output for `password` and the salt bytes `salt` under `algorithm`, `version`
/// and `params` (whose output length defaults to argon2's 32 bytes), computed in `memory`'s
/// buffers.
fn argon2_output(
    memory: &MemoryPool,
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
) -> password_hash::Result<Output> {
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let block_count = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    memory.with_blocks(block_count, |blocks| {
        Output::init_with(output_len, |out| {
            argon2
                .hash_password_into_with_memory(password, salt, out, &mut *blocks)
                .map_err(password_hash::Error::from)
        })
    })
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
            memory: Arc::new(MemoryPool {
                block_count: params.block_count(),
                idle: Mutex::new(Vec::with_capacity(max_running)),
            }),
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

    /// The PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) of `password`, with a fresh salt.
    pub async fn hash(&self, password: &Password) -> Result<String, HashingError> {
        self.hash_text(password.expose().to_owned()).await
    }

    async fn hash_text(&self, clear_text: String) -> Result<String, HashingError> {
        let params = self.params.clone();
        let memory = self.memory.clone();
        self.run_hashing(move || {
            let salt = SaltString::generate(&mut OsRng);
            let mut salt_bytes = [0_u8; 64];
            let salt_bytes = salt
                .decode_b64(&mut salt_bytes)
                .map_err(|error| anyhow::anyhow!("cannot decode a fresh salt: {error}"))?;
            let params_string = ParamsString::try_from(&params)
                .map_err(|error| anyhow::anyhow!("cannot encode argon2 parameters: {error}"))?;
            let output = argon2_output(
                &memory,
                Algorithm::Argon2id,
                Version::V0x13,
                params,
                clear_text.as_bytes(),
                salt_bytes,
            )
            .map_err(|error| anyhow::anyhow!("cannot hash a password: {error}"))?;
            // The same PHC string as argon2's `PasswordHasher::hash_password`.
            let hash = PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: params_string,
                salt: Some(salt.as_salt()),
                hash: Some(output),
            };
            Ok(hash.to_string())
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
        let memory = self.memory.clone();
        let matches = self
            .run_hashing(move || verify_phc(&memory, clear_text.as_bytes(), &hash))
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

/// Whether `password` matches the PHC string `stored_hash`, as argon2's `PasswordVerifier`
/// decides it: the algorithm, version, cost parameters, salt and output length all come from
/// the stored hash, and the output is recomputed in `memory`'s buffers.
fn verify_phc(memory: &MemoryPool, password: &[u8], stored_hash: &str) -> anyhow::Result<bool> {
    let malformed =
        |error: password_hash::Error| anyhow::anyhow!("stored password hash is malformed: {error}");
    let parsed = PasswordHash::new(stored_hash).map_err(malformed)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(malformed)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|error| malformed(error.into()))?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(malformed)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Ok(false);
    };
    let mut salt_bytes = [0_u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(malformed)?;
    let computed = argon2_output(memory, algorithm, version, params, password, salt_bytes)
        .map_err(|error| anyhow::anyhow!("cannot verify a password: {error}"))?;
    // `Output`'s `PartialEq` compares in constant time (`subtle::ConstantTimeEq`).
    Ok(computed == expected)
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
    async fn pooled_hashes_agree_with_argon2s_own_hasher_and_verifier() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};

        let config = Argon2Config {
            max_concurrent_hashes: 2,
            ..cheap()
        };
        let hasher = PasswordHasher::new(&config).await.unwrap();
        let password = Password::parse_new("password", "correct horse battery".into()).unwrap();
        let wrong = Password::parse_new("password", "wrong horse battery".into()).unwrap();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, hasher.params.clone());

        // A hash made in the pooled buffers verifies with argon2's `PasswordVerifier`.
        let new_hash = hasher.hash(&password).await.unwrap();
        let parsed = PasswordHash::new(&new_hash).unwrap();
        argon2
            .verify_password(password.expose().as_bytes(), &parsed)
            .expect("argon2 verifies a pooled hash");
        assert!(matches!(
            argon2.verify_password(wrong.expose().as_bytes(), &parsed),
            Err(password_hash::Error::Password)
        ));

        // A hash made by argon2's `PasswordHasher` verifies in the pooled buffers.
        let salt = SaltString::generate(&mut OsRng);
        let old_hash = argon2
            .hash_password(password.expose().as_bytes(), &salt)
            .unwrap()
            .to_string();
        assert!(hasher.verify(&password, Some(&old_hash)).await.unwrap());
        assert!(!hasher.verify(&wrong, Some(&old_hash)).await.unwrap());

        // With the same salt, both ways give the same PHC string.
        let mut salt_bytes = [0_u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes).unwrap();
        let output = argon2_output(
            &hasher.memory,
            Algorithm::Argon2id,
            Version::V0x13,
            hasher.params.clone(),
            password.expose().as_bytes(),
            salt_bytes,
        )
        .unwrap();
        assert_eq!(Some(output), PasswordHash::new(&old_hash).unwrap().hash);

        // A stored hash with more memory than the pool's buffers verifies in a buffer of
        // its own; the pool keeps its size.
        let larger = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(256, 1, 1, None).unwrap(),
        )
        .hash_password(password.expose().as_bytes(), &salt)
        .unwrap()
        .to_string();
        assert!(hasher.verify(&password, Some(&larger)).await.unwrap());
        assert!(!hasher.verify(&wrong, Some(&larger)).await.unwrap());

        // Never more buffers than running slots, each of the configured size.
        let idle = hasher.memory.idle.lock().unwrap();
        assert!((1..=2).contains(&idle.len()));
        assert!(
            idle.iter()
                .all(|blocks| blocks.len() == hasher.params.block_count())
        );
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
