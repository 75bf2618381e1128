//! The keys that sign access tokens, and the signer the auth service uses.

use std::fmt;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use gigmesh_proto::auth::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::claims::Claims;

/// JWK key type of Ed25519 keys (RFC 8037).
pub(crate) const JWK_KEY_TYPE: &str = "OKP";
/// JWK curve of Ed25519 keys.
pub(crate) const JWK_CURVE: &str = "Ed25519";
/// JWK algorithm of Ed25519 signatures.
pub(crate) const JWK_ALGORITHM: &str = "EdDSA";
/// JWK use of signing keys.
const JWK_USE: &str = "sig";

/// An Ed25519 key pair that signs access tokens, named by its key id (`kid`).
pub struct SigningKey {
    kid: String,
    key_pair: ed25519_dalek::SigningKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new random key pair with a fresh key id (a UUIDv7, so ids sort by creation time).
    pub fn generate() -> Self {
        Self {
            kid: uuid::Uuid::now_v7().to_string(),
            key_pair: ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// The key pair stored as PKCS#8 DER under `kid`.
    pub fn from_pkcs8_der(kid: impl Into<String>, der: &[u8]) -> anyhow::Result<Self> {
        let kid = kid.into();
        anyhow::ensure!(!kid.is_empty(), "a signing key needs a key id");
        let key_pair = ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(|error| {
            anyhow::anyhow!("signing key {kid} is not Ed25519 PKCS#8 DER: {error}")
        })?;
        Ok(Self { kid, key_pair })
    }

    /// The private key as PKCS#8 DER, for storage (treat as a secret).
    pub fn to_pkcs8_der(&self) -> anyhow::Result<Vec<u8>> {
        let document = self
            .key_pair
            .to_pkcs8_der()
            .map_err(|error| anyhow::anyhow!("cannot encode signing key {}: {error}", self.kid))?;
        Ok(document.as_bytes().to_vec())
    }

    /// The key id, sent as the `kid` header of the tokens this key signs.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as a JWK (RFC 8037: `OKP`, `Ed25519`, base64url `x`).
    pub fn public_jwk(&self) -> Jwk {
        Jwk {
            kid: self.kid.clone(),
            kty: JWK_KEY_TYPE.to_owned(),
            crv: JWK_CURVE.to_owned(),
            x: URL_SAFE_NO_PAD.encode(self.key_pair.verifying_key().as_bytes()),
            alg: JWK_ALGORITHM.to_owned(),
            r#use: JWK_USE.to_owned(),
        }
    }
}

/// Signs access tokens (EdDSA, `kid` header) with one [`SigningKey`].
pub struct TokenSigner {
    kid: String,
    public_jwk: Jwk,
    encoding_key: EncodingKey,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A signer that signs with `key`.
    pub fn new(key: &SigningKey) -> anyhow::Result<Self> {
        let der = key.to_pkcs8_der()?;
        Ok(Self {
            kid: key.kid.clone(),
            public_jwk: key.public_jwk(),
            encoding_key: EncodingKey::from_ed_der(&der),
        })
    }

    /// The id of the signing key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key that verifies this signer's tokens.
    pub fn public_jwk(&self) -> &Jwk {
        &self.public_jwk
    }

    /// Signs `claims` into a compact JWT. The caller sets the lifetime in `claims.exp`.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding_key)
            .with_context(|| format!("cannot sign an access token with key {}", self.kid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_round_trip_keeps_the_key() {
        let key = SigningKey::generate();
        let der = key.to_pkcs8_der().expect("encodes");
        let restored = SigningKey::from_pkcs8_der(key.kid(), &der).expect("decodes");
        assert_eq!(restored.kid(), key.kid());
        assert_eq!(restored.public_jwk(), key.public_jwk());
        assert!(SigningKey::from_pkcs8_der("k", b"not a key").is_err());
        assert!(SigningKey::from_pkcs8_der("", &der).is_err());
    }

    #[test]
    fn public_jwk_is_rfc_8037() {
        let key = SigningKey::generate();
        let jwk = key.public_jwk();
        assert_eq!(jwk.kid, key.kid());
        assert_eq!(jwk.kty, "OKP");
        assert_eq!(jwk.crv, "Ed25519");
        assert_eq!(jwk.alg, "EdDSA");
        assert_eq!(jwk.r#use, "sig");
        assert_eq!(URL_SAFE_NO_PAD.decode(&jwk.x).expect("base64url").len(), 32);
        assert!(!format!("{key:?}").contains(&jwk.x));
    }

    #[test]
    fn tokens_carry_the_kid() {
        let key = SigningKey::generate();
        let signer = TokenSigner::new(&key).expect("signer");
        let claims = Claims::new("u", "s", &[], crate::ACCESS_TOKEN_LIFETIME);
        let token = signer.sign(&claims).expect("signs");
        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
    }
}
