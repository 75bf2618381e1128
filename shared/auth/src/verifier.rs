//! Verifying access tokens with auth's published public keys.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gigmesh_proto::auth::auth_service_client::AuthServiceClient;
use gigmesh_proto::auth::{GetJwksRequest, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::{Mutex, RwLock};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::claims::{AUDIENCE, Claims, ISSUER};
use crate::error::TokenError;
use crate::keys::{JWK_ALGORITHM, JWK_CURVE, JWK_KEY_TYPE};
use crate::revoked::RevokedSessions;

/// Fewest seconds between two key fetches caused by tokens naming an unknown key, so that
/// tokens with made-up key ids cannot turn into a flood of calls to auth.
const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(5);
/// Longest a key fetch may take; a token waiting for it is refused after that.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Clock skew tolerated on `exp`, in seconds.
const LEEWAY_SECONDS: u64 = 5;
/// Most tokens remembered as verified (about 1 KiB each with their claims); past that the
/// expired ones are forgotten, or all of them when most are still valid.
const MAX_REMEMBERED_TOKENS: usize = 10_000;

/// Where a [`TokenVerifier`] gets the public keys (JWKS) from.
#[async_trait::async_trait]
pub trait JwksSource: Send + Sync {
    /// Every key that may have signed a token that has not expired yet.
    async fn fetch(&self) -> anyhow::Result<Vec<Jwk>>;
}

/// Fetches the keys from `gigmesh.auth.v1.AuthService/GetJwks`.
#[derive(Clone)]
pub struct GrpcJwksSource {
    client: AuthServiceClient<Channel>,
}

impl GrpcJwksSource {
    /// A source that calls auth over `channel`.
    pub fn new(channel: Channel) -> Self {
        Self {
            client: AuthServiceClient::new(channel),
        }
    }

    /// A source that calls auth at `url` (e.g. `http://auth:50051`), connecting on first use.
    pub fn connect_lazy(url: &str) -> anyhow::Result<Self> {
        let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
            .with_context(|| format!("{url:?} is not a valid auth address"))?
            .connect_timeout(FETCH_TIMEOUT)
            .timeout(FETCH_TIMEOUT);
        Ok(Self::new(endpoint.connect_lazy()))
    }
}

#[async_trait::async_trait]
impl JwksSource for GrpcJwksSource {
    async fn fetch(&self) -> anyhow::Result<Vec<Jwk>> {
        let response = self
            .client
            .clone()
            .get_jwks(GetJwksRequest {})
            .await
            .context("cannot fetch the token keys from gigmesh.auth.v1.AuthService/GetJwks")?;
        Ok(response.into_inner().keys)
    }
}

/// Verifies access tokens. Cheap to clone; clones share the key set.
///
/// Known keys are looked up without waiting. A token that names an unknown key makes the
/// verifier fetch the keys again from its [`JwksSource`] (at most once per interval, 5 s by
/// default), which is how a key rotated in by auth is picked up before the periodic refresh
/// ([`TokenVerifier::run_periodic_refresh`]) runs.
#[derive(Clone)]
pub struct TokenVerifier {
    shared: Arc<Shared>,
    /// Sessions whose tokens are refused although they verify; none unless given.
    revoked: Option<RevokedSessions>,
}

struct Shared {
    keys: RwLock<KeySet>,
    /// Tokens that verified against the current keys, with their claims. A signed-in client
    /// sends the same token with every call for its whole lifetime; finding it here costs a
    /// lookup instead of an Ed25519 signature check (tens of microseconds), which is most of
    /// what verifying costs the gateway and every service on each call.
    verified: Mutex<VerifiedTokens>,
    source: Option<Arc<dyn JwksSource>>,
    validation: Validation,
    min_refresh_interval: Duration,
    /// When keys were last fetched because of an unknown key; held while fetching so that
    /// concurrent tokens wait for one fetch instead of starting their own.
    last_unknown_key_fetch: tokio::sync::Mutex<Option<Instant>>,
}

/// The usable keys by kid, and which replacement of the keys they are.
#[derive(Default)]
struct KeySet {
    generation: u64,
    by_kid: HashMap<String, Arc<DecodingKey>>,
}

/// Tokens verified with the keys of one [`KeySet`] generation. Everything in it was checked
/// in full (signature, `iss`, `aud`); only `exp` is checked again on each use, by the same
/// rule, so a remembered token is accepted exactly when checking it again would accept it.
#[derive(Default)]
struct VerifiedTokens {
    generation: u64,
    claims_by_token: HashMap<Box<str>, Claims>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<String> = self.shared.keys.read().by_kid.keys().cloned().collect();
        kids.sort();
        formatter
            .debug_struct("TokenVerifier")
            .field("kids", &kids)
            .field("remote", &self.shared.source.is_some())
            .field(
                "revoked_sessions",
                &self.revoked.as_ref().map(RevokedSessions::len),
            )
            .finish()
    }
}

impl TokenVerifier {
    /// A verifier with a fixed set of keys (tests, and auth verifying its own tokens).
    /// Keys that are not valid Ed25519 JWKs are skipped with a warning; they could verify
    /// nothing anyway.
    pub fn from_jwks(keys: impl IntoIterator<Item = Jwk>) -> Self {
        let verifier = Self::build(None, DEFAULT_MIN_REFRESH_INTERVAL);
        verifier.replace_keys(keys);
        verifier
    }

    /// A verifier that fetches keys from `source`: on the first token, on any token naming an
    /// unknown key (at most once per 5 s), and on [`TokenVerifier::refresh`].
    pub fn remote(source: Arc<dyn JwksSource>) -> Self {
        Self::build(Some(source), DEFAULT_MIN_REFRESH_INTERVAL)
    }

    /// Like [`TokenVerifier::remote`], with another minimum interval between fetches caused
    /// by unknown keys.
    pub fn remote_with_min_refresh_interval(
        source: Arc<dyn JwksSource>,
        min_refresh_interval: Duration,
    ) -> Self {
        Self::build(Some(source), min_refresh_interval)
    }

    fn build(source: Option<Arc<dyn JwksSource>>, min_refresh_interval: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Self {
            shared: Arc::new(Shared {
                keys: RwLock::new(KeySet::default()),
                verified: Mutex::new(VerifiedTokens::default()),
                source,
                validation,
                min_refresh_interval,
                last_unknown_key_fetch: tokio::sync::Mutex::new(None),
            }),
            revoked: None,
        }
    }

    /// The same verifier (same keys, same remembered tokens) that also refuses tokens of the
    /// sessions in `revoked`, with [`TokenError::Revoked`].
    pub fn refusing(&self, revoked: RevokedSessions) -> Self {
        Self {
            shared: self.shared.clone(),
            revoked: Some(revoked),
        }
    }

    /// The ended sessions this verifier refuses, when it was given any.
    pub fn revoked_sessions(&self) -> Option<&RevokedSessions> {
        self.revoked.as_ref()
    }

    /// Verifies `token` (signature, `exp`, `iss`, `aud`) and returns its claims.
    ///
    /// A token that verified before with the same keys is not checked again except for
    /// `exp`; replacing the keys forgets every token verified with the old ones. A token of a
    /// [revoked session](Self::refusing) is refused whether remembered or not.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let claims = self.verify_signed(token).await?;
        match &self.revoked {
            Some(revoked) if revoked.contains(claims.session_id()) => Err(TokenError::Revoked),
            _ => Ok(claims),
        }
    }

    /// [`verify`](Self::verify) without the revoked sessions.
    async fn verify_signed(&self, token: &str) -> Result<Claims, TokenError> {
        if let Some(claims) = self.remembered(token) {
            return Ok(claims);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Malformed);
        }
        let kid = header.kid.ok_or(TokenError::Malformed)?;
        let (key, generation) = match self.key(&kid) {
            Some(found) => found,
            None => {
                self.fetch_for_unknown_key(&kid).await;
                self.key(&kid).ok_or(TokenError::UnknownKey)?
            }
        };
        let token_data = jsonwebtoken::decode::<Claims>(token, &key, &self.shared.validation)?;
        self.remember(token, &token_data.claims, generation);
        Ok(token_data.claims)
    }

    /// Whether the verifier currently knows the key `kid`.
    pub fn knows_key(&self, kid: &str) -> bool {
        self.shared.keys.read().by_kid.contains_key(kid)
    }

    /// Fetches the keys from the source now and replaces the known set; returns how many
    /// usable keys it holds. Does nothing (and returns the current count) without a source.
    pub async fn refresh(&self) -> anyhow::Result<usize> {
        let Some(source) = &self.shared.source else {
            return Ok(self.shared.keys.read().by_kid.len());
        };
        let keys = tokio::time::timeout(FETCH_TIMEOUT, source.fetch())
            .await
            .context("fetching the token keys timed out")??;
        Ok(self.replace_keys(keys))
    }

    /// Refreshes the keys now and then every `interval` until `shutdown` is cancelled. A failed
    /// refresh keeps the known keys and is logged.
    pub async fn run_periodic_refresh(self, interval: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match self.refresh().await {
                Ok(count) => tracing::debug!(keys = count, "refreshed the token keys"),
                Err(error) => tracing::warn!(
                    error = format!("{error:#}"),
                    "cannot refresh the token keys"
                ),
            }
        }
    }

    /// The key `kid` and the generation of the key set it belongs to.
    fn key(&self, kid: &str) -> Option<(Arc<DecodingKey>, u64)> {
        let keys = self.shared.keys.read();
        let key = keys.by_kid.get(kid)?.clone();
        Some((key, keys.generation))
    }

    /// The claims of `token` if it verified before with the current keys and is not expired.
    fn remembered(&self, token: &str) -> Option<Claims> {
        let verified = self.shared.verified.lock();
        let claims = verified.claims_by_token.get(token)?;
        is_unexpired(claims.exp, unix_now()).then(|| claims.clone())
    }

    /// Remembers that `token` verified with the keys of `generation`, unless the keys have
    /// been replaced since.
    fn remember(&self, token: &str, claims: &Claims, generation: u64) {
        let mut verified = self.shared.verified.lock();
        if verified.generation != generation {
            return;
        }
        if verified.claims_by_token.len() >= MAX_REMEMBERED_TOKENS {
            let now = unix_now();
            verified
                .claims_by_token
                .retain(|_, claims| is_unexpired(claims.exp, now));
            if verified.claims_by_token.len() >= MAX_REMEMBERED_TOKENS * 3 / 4 {
                verified.claims_by_token.clear();
            }
        }
        verified
            .claims_by_token
            .insert(Box::from(token), claims.clone());
    }

    async fn fetch_for_unknown_key(&self, kid: &str) {
        let Some(source) = &self.shared.source else {
            return;
        };
        let mut last_fetch = self.shared.last_unknown_key_fetch.lock().await;
        // Another token may have caused a fetch while this one waited for the lock.
        if self.knows_key(kid) {
            return;
        }
        if last_fetch.is_some_and(|at| at.elapsed() < self.shared.min_refresh_interval) {
            return;
        }
        *last_fetch = Some(Instant::now());
        match tokio::time::timeout(FETCH_TIMEOUT, source.fetch()).await {
            Ok(Ok(keys)) => {
                let count = self.replace_keys(keys);
                tracing::info!(
                    kid,
                    keys = count,
                    "fetched the token keys for an unknown key id"
                );
            }
            Ok(Err(error)) => {
                tracing::warn!(
                    kid,
                    error = format!("{error:#}"),
                    "cannot fetch the token keys"
                );
            }
            Err(_elapsed) => tracing::warn!(kid, "fetching the token keys timed out"),
        }
    }

    /// Replaces the known keys with the usable ones of `keys`; returns how many there are.
    fn replace_keys(&self, keys: impl IntoIterator<Item = Jwk>) -> usize {
        let mut usable = HashMap::new();
        for jwk in keys {
            match decoding_key(&jwk) {
                Ok(key) => {
                    usable.insert(jwk.kid, Arc::new(key));
                }
                Err(error) => {
                    tracing::warn!(kid = jwk.kid, %error, "skipping an unusable token key")
                }
            }
        }
        let count = usable.len();
        let mut keys = self.shared.keys.write();
        keys.generation += 1;
        keys.by_kid = usable;
        // Under the key lock, so generations reach the remembered tokens in order.
        let mut verified = self.shared.verified.lock();
        verified.generation = keys.generation;
        verified.claims_by_token.clear();
        count
    }
}

/// Whether a token expiring at `exp` is still accepted at `now` (unix seconds): the rule of
/// the full check, which refuses a token once `exp + LEEWAY_SECONDS < now`.
fn is_unexpired(exp: i64, now: u64) -> bool {
    i128::from(exp) + i128::from(LEEWAY_SECONDS) >= i128::from(now)
}

fn unix_now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// The verifying key of an Ed25519 JWK (RFC 8037).
fn decoding_key(jwk: &Jwk) -> anyhow::Result<DecodingKey> {
    anyhow::ensure!(!jwk.kid.is_empty(), "the key has no kid");
    anyhow::ensure!(
        jwk.kty == JWK_KEY_TYPE,
        "kty is {:?}, not {JWK_KEY_TYPE}",
        jwk.kty
    );
    anyhow::ensure!(
        jwk.crv == JWK_CURVE,
        "crv is {:?}, not {JWK_CURVE}",
        jwk.crv
    );
    anyhow::ensure!(
        jwk.alg.is_empty() || jwk.alg == JWK_ALGORITHM,
        "alg is {:?}, not {JWK_ALGORITHM}",
        jwk.alg
    );
    let public_key = URL_SAFE_NO_PAD
        .decode(&jwk.x)
        .context("x is not base64url")?;
    let public_key: [u8; 32] = public_key
        .try_into()
        .map_err(|_| anyhow::anyhow!("x is not 32 bytes"))?;
    ed25519_dalek::VerifyingKey::from_bytes(&public_key).context("x is not an Ed25519 point")?;
    DecodingKey::from_ed_components(&jwk.x).context("x is not an EdDSA key")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::claims::ACCESS_TOKEN_LIFETIME;
    use crate::keys::{SigningKey, TokenSigner};
    use crate::role::Role;

    fn signer(key: &SigningKey) -> TokenSigner {
        TokenSigner::new(key).expect("signer")
    }

    fn claims() -> Claims {
        Claims::new("user-1", "session-1", &[Role::Buyer], ACCESS_TOKEN_LIFETIME)
    }

    /// A JWKS source that serves whatever keys the test puts in and counts fetches.
    #[derive(Default)]
    struct CountingSource {
        keys: parking_lot::Mutex<Vec<Jwk>>,
        fetches: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl JwksSource for CountingSource {
        async fn fetch(&self) -> anyhow::Result<Vec<Jwk>> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            Ok(self.keys.lock().clone())
        }
    }

    #[tokio::test]
    async fn signed_tokens_verify() {
        let key = SigningKey::generate();
        let verifier = TokenVerifier::from_jwks(vec![key.public_jwk()]);
        let issued = claims();
        let token = signer(&key).sign(&issued).expect("signs");
        assert_eq!(verifier.verify(&token).await, Ok(issued));
    }

    #[tokio::test]
    async fn expired_tokens_are_refused() {
        let key = SigningKey::generate();
        let verifier = TokenVerifier::from_jwks(vec![key.public_jwk()]);
        let mut expired = claims();
        expired.iat -= 3600;
        expired.exp = expired.iat + 900;
        let token = signer(&key).sign(&expired).expect("signs");
        assert_eq!(verifier.verify(&token).await, Err(TokenError::Expired));
    }

    #[tokio::test]
    async fn tokens_of_another_key_with_the_same_kid_are_refused() {
        let trusted = SigningKey::generate();
        let verifier = TokenVerifier::from_jwks(vec![trusted.public_jwk()]);
        let forger = SigningKey::generate();
        let forged_der = forger.to_pkcs8_der().expect("der");
        let impostor = SigningKey::from_pkcs8_der(trusted.kid(), &forged_der).expect("key");
        let token = signer(&impostor).sign(&claims()).expect("signs");
        assert_eq!(verifier.verify(&token).await, Err(TokenError::BadSignature));
    }

    #[tokio::test]
    async fn tokens_of_an_unpublished_key_are_refused() {
        let trusted = SigningKey::generate();
        let verifier = TokenVerifier::from_jwks(vec![trusted.public_jwk()]);
        let token = signer(&SigningKey::generate())
            .sign(&claims())
            .expect("signs");
        assert_eq!(verifier.verify(&token).await, Err(TokenError::UnknownKey));
    }

    #[tokio::test]
    async fn tampered_tokens_are_refused() {
        let key = SigningKey::generate();
        let verifier = TokenVerifier::from_jwks(vec![key.public_jwk()]);
        let token = signer(&key).sign(&claims()).expect("signs");
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut promoted = claims();
        promoted.roles.push("admin".to_owned());
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&promoted).expect("json"));
        parts[1] = &forged_payload;
        let tampered = parts.join(".");
        assert_eq!(
            verifier.verify(&tampered).await,
            Err(TokenError::BadSignature)
        );

        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).expect("ascii");
        assert_eq!(
            verifier.verify(&flipped).await,
            Err(TokenError::BadSignature)
        );
    }

    #[tokio::test]
    async fn malformed_tokens_are_refused() {
        let key = SigningKey::generate();
        let verifier = TokenVerifier::from_jwks(vec![key.public_jwk()]);
        for garbage in ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"] {
            assert_eq!(
                verifier.verify(garbage).await,
                Err(TokenError::Malformed),
                "{garbage}"
            );
        }
    }

    #[tokio::test]
    async fn wrong_audience_and_issuer_are_refused() {
        let key = SigningKey::generate();
        let verifier = TokenVerifier::from_jwks(vec![key.public_jwk()]);
        let mut other_audience = claims();
        other_audience.aud = "someone-else".to_owned();
        let token = signer(&key).sign(&other_audience).expect("signs");
        assert_eq!(
            verifier.verify(&token).await,
            Err(TokenError::WrongAudience)
        );

        let mut other_issuer = claims();
        other_issuer.iss = "someone-else".to_owned();
        let token = signer(&key).sign(&other_issuer).expect("signs");
        assert_eq!(verifier.verify(&token).await, Err(TokenError::WrongIssuer));
    }

    #[tokio::test]
    async fn unknown_kid_triggers_a_rate_limited_refresh() {
        let first = SigningKey::generate();
        let source = Arc::new(CountingSource::default());
        source.keys.lock().push(first.public_jwk());
        let verifier = TokenVerifier::remote(source.clone());

        // The first token fetches the keys.
        let token = signer(&first).sign(&claims()).expect("signs");
        assert!(verifier.verify(&token).await.is_ok());
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
        assert!(verifier.verify(&token).await.is_ok());
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);

        // A rotated-in key is not fetched again within the interval...
        let second = SigningKey::generate();
        source.keys.lock().push(second.public_jwk());
        let rotated = signer(&second).sign(&claims()).expect("signs");
        assert_eq!(verifier.verify(&rotated).await, Err(TokenError::UnknownKey));
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);

        // ...but is picked up by a refresh.
        assert_eq!(verifier.refresh().await.expect("refresh"), 2);
        assert!(verifier.verify(&rotated).await.is_ok());
    }

    #[tokio::test]
    async fn unknown_kid_fetches_again_after_the_interval() {
        let source = Arc::new(CountingSource::default());
        let verifier =
            TokenVerifier::remote_with_min_refresh_interval(source.clone(), Duration::ZERO);
        let key = SigningKey::generate();
        let token = signer(&key).sign(&claims()).expect("signs");
        assert_eq!(verifier.verify(&token).await, Err(TokenError::UnknownKey));
        source.keys.lock().push(key.public_jwk());
        assert!(verifier.verify(&token).await.is_ok());
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
        assert!(verifier.knows_key(key.kid()));
    }

    #[tokio::test]
    async fn refresh_drops_unpublished_keys() {
        let key = SigningKey::generate();
        let source = Arc::new(CountingSource::default());
        source.keys.lock().push(key.public_jwk());
        let verifier = TokenVerifier::remote(source.clone());
        verifier.refresh().await.expect("refresh");
        assert!(verifier.knows_key(key.kid()));
        source.keys.lock().clear();
        verifier.refresh().await.expect("refresh");
        assert!(!verifier.knows_key(key.kid()));
    }

    #[tokio::test]
    async fn verified_tokens_are_remembered_with_their_claims() {
        let key = SigningKey::generate();
        let verifier = TokenVerifier::from_jwks(vec![key.public_jwk()]);
        let issued = claims();
        let token = signer(&key).sign(&issued).expect("signs");
        assert_eq!(verifier.verify(&token).await, Ok(issued.clone()));
        assert_eq!(verifier.remembered(&token), Some(issued.clone()));
        assert_eq!(verifier.verify(&token).await, Ok(issued));
    }

    #[tokio::test]
    async fn refused_tokens_are_not_remembered() {
        let key = SigningKey::generate();
        let verifier = TokenVerifier::from_jwks(vec![key.public_jwk()]);
        let mut other_audience = claims();
        other_audience.aud = "someone-else".to_owned();
        let token = signer(&key).sign(&other_audience).expect("signs");
        assert!(verifier.verify(&token).await.is_err());
        assert_eq!(verifier.remembered(&token), None);
    }

    #[tokio::test]
    async fn remembered_tokens_still_expire() {
        let key = SigningKey::generate();
        let verifier = TokenVerifier::from_jwks(vec![key.public_jwk()]);
        let mut expired = claims();
        expired.iat -= 3600;
        expired.exp = expired.iat + 900;
        let token = signer(&key).sign(&expired).expect("signs");
        let generation = verifier.shared.keys.read().generation;
        verifier.remember(&token, &expired, generation);
        assert_eq!(verifier.verify(&token).await, Err(TokenError::Expired));
    }

    #[tokio::test]
    async fn remembered_tokens_are_forgotten_with_their_keys() {
        let key = SigningKey::generate();
        let source = Arc::new(CountingSource::default());
        source.keys.lock().push(key.public_jwk());
        let verifier = TokenVerifier::remote(source.clone());
        let token = signer(&key).sign(&claims()).expect("signs");
        assert!(verifier.verify(&token).await.is_ok());

        source.keys.lock().clear();
        verifier.refresh().await.expect("refresh");
        assert_eq!(verifier.remembered(&token), None);
        assert_eq!(verifier.verify(&token).await, Err(TokenError::UnknownKey));
    }

    #[tokio::test]
    async fn tokens_of_revoked_sessions_are_refused_even_when_remembered() {
        let key = SigningKey::generate();
        let verifier = TokenVerifier::from_jwks(vec![key.public_jwk()]);
        let revoked = RevokedSessions::new();
        let refusing = verifier.refusing(revoked.clone());
        let issued = claims();
        let token = signer(&key).sign(&issued).expect("signs");
        assert!(
            refusing.verify(&token).await.is_ok(),
            "verified and remembered"
        );

        revoked.insert_all([(issued.session_id(), i64::MAX)]);
        assert_eq!(refusing.verify(&token).await, Err(TokenError::Revoked));
        // The verifier it was made from shares the keys, not the refusals.
        assert!(verifier.verify(&token).await.is_ok());
    }

    #[tokio::test]
    async fn tokens_verified_with_replaced_keys_are_not_remembered() {
        let key = SigningKey::generate();
        let verifier = TokenVerifier::from_jwks(vec![key.public_jwk()]);
        let issued = claims();
        let token = signer(&key).sign(&issued).expect("signs");
        let stale_generation = verifier.shared.keys.read().generation;
        verifier.replace_keys(vec![key.public_jwk()]);
        verifier.remember(&token, &issued, stale_generation);
        assert_eq!(verifier.remembered(&token), None);
    }

    #[test]
    fn the_expiry_rule_is_the_full_checks() {
        let exp = 1_000_000;
        assert!(is_unexpired(exp, 1_000_000));
        assert!(is_unexpired(exp, 1_000_000 + LEEWAY_SECONDS));
        assert!(!is_unexpired(exp, 1_000_000 + LEEWAY_SECONDS + 1));
        assert!(!is_unexpired(-1, 1_000_000));
    }

    #[test]
    fn unusable_jwks_are_skipped() {
        let key = SigningKey::generate();
        let mut wrong_curve = key.public_jwk();
        wrong_curve.crv = "X25519".to_owned();
        let mut short = SigningKey::generate().public_jwk();
        short.x = "AAAA".to_owned();
        let verifier = TokenVerifier::from_jwks(vec![wrong_curve, short]);
        assert!(!verifier.knows_key(key.kid()));
    }
}
