//! Sealing mailed tokens for the notification service: a libsodium sealed box (X25519 and
//! XSalsa20-Poly1305) to notifications' mail-token public key, so the token crosses the
//! outbox, the bus and every other consumer unreadable. Auth itself keeps only the token's
//! digest and cannot open what it sealed.

use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_box::PublicKey;
use crypto_box::aead::OsRng;

use crate::config::MailTokenPublicKeyConfig;

/// Bytes of an X25519 public key.
pub(crate) const PUBLIC_KEY_BYTES: usize = crypto_box::KEY_SIZE;

/// A token sealed to one public key, as the mail events carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SealedToken {
    /// The sealed box.
    pub(crate) sealed: Vec<u8>,
    /// Id of the public key it was sealed to.
    pub(crate) key_id: String,
}

/// Seals mailed tokens to the configured public key.
#[derive(Clone)]
pub(crate) struct MailTokenSealer {
    key_id: String,
    public_key: PublicKey,
}

impl std::fmt::Debug for MailTokenSealer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MailTokenSealer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl MailTokenSealer {
    /// The sealer of the configured key: given inline, or read from the configured file
    /// (dev mode: the one the notification service writes beside its secret key).
    pub(crate) fn from_config(config: &MailTokenPublicKeyConfig) -> anyhow::Result<Self> {
        if !config.key_id.is_empty() || !config.public_key.is_empty() {
            return Self::new(&config.key_id, &config.public_key).context(
                "auth.settings.mail_token_public_key: cannot use the configured public key",
            );
        }
        if config.file.as_os_str().is_empty() {
            anyhow::bail!(
                "auth.settings.mail_token_public_key is not set: give key_id and public_key \
                 (the notification service's mail-token public key, standard base64) so mailed \
                 tokens can be sealed for it"
            );
        }
        Self::read_file(&config.file)
    }

    /// A sealer for `public_key` (standard base64 of 32 bytes) called `key_id`.
    pub(crate) fn new(key_id: &str, public_key: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(!key_id.is_empty(), "the key id is empty");
        let public_key = parse_public_key(public_key)?;
        Ok(Self {
            key_id: key_id.to_owned(),
            public_key,
        })
    }

    /// Reads `<key_id> <public_key>` from `path`.
    fn read_file(path: &Path) -> anyhow::Result<Self> {
        let context = || {
            format!(
                "auth.settings.mail_token_public_key.file: cannot read the mail-token public key \
                 from {}",
                path.display()
            )
        };
        let text = std::fs::read_to_string(path).with_context(context)?;
        let mut words = text.split_whitespace();
        let (Some(key_id), Some(public_key), None) = (words.next(), words.next(), words.next())
        else {
            return Err(anyhow::anyhow!("expected `<key_id> <base64 public key>`"))
                .with_context(context);
        };
        Self::new(key_id, public_key).with_context(context)
    }

    /// Seals `token` for the notification service.
    pub(crate) fn seal(&self, token: &str) -> anyhow::Result<SealedToken> {
        let sealed = self
            .public_key
            .seal(&mut OsRng, token.as_bytes())
            .map_err(|_| anyhow::anyhow!("cannot seal the mailed token"))?;
        Ok(SealedToken {
            sealed,
            key_id: self.key_id.clone(),
        })
    }
}

/// An X25519 public key from its standard base64 form.
pub(crate) fn parse_public_key(encoded: &str) -> anyhow::Result<PublicKey> {
    let bytes = STANDARD
        .decode(encoded.trim())
        .context("the public key is not standard base64")?;
    let bytes: [u8; PUBLIC_KEY_BYTES] = bytes.try_into().map_err(|bytes: Vec<u8>| {
        anyhow::anyhow!(
            "the public key has {} bytes, not {PUBLIC_KEY_BYTES}",
            bytes.len()
        )
    })?;
    Ok(PublicKey::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_box::SecretKey;

    #[test]
    fn a_sealed_token_opens_only_with_the_matching_secret_key() {
        let secret = SecretKey::generate(&mut OsRng);
        let public = STANDARD.encode(secret.public_key().as_bytes());
        let sealer = MailTokenSealer::new("k1", &public).unwrap();
        let sealed = sealer.seal("the-token").unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert!(
            !sealed
                .sealed
                .windows(9)
                .any(|window| window == b"the-token")
        );
        assert_eq!(secret.unseal(&sealed.sealed).unwrap(), b"the-token");
        let other = SecretKey::generate(&mut OsRng);
        assert!(other.unseal(&sealed.sealed).is_err());
    }

    #[test]
    fn a_public_key_must_be_32_bytes_of_base64() {
        assert!(parse_public_key("not base64!").is_err());
        assert!(parse_public_key(&STANDARD.encode([1_u8; 31])).is_err());
        assert!(parse_public_key(&STANDARD.encode([1_u8; 32])).is_ok());
    }

    #[test]
    fn the_key_is_read_from_the_file_notifications_writes() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("mail-token.pub");
        let secret = SecretKey::generate(&mut OsRng);
        let public = STANDARD.encode(secret.public_key().as_bytes());
        std::fs::write(&path, format!("dev {public}\n")).unwrap();
        let sealer = MailTokenSealer::from_config(&MailTokenPublicKeyConfig {
            file: path.clone(),
            ..MailTokenPublicKeyConfig::default()
        })
        .unwrap();
        let sealed = sealer.seal("t").unwrap();
        assert_eq!(sealed.key_id, "dev");
        assert_eq!(secret.unseal(&sealed.sealed).unwrap(), b"t");

        let missing = MailTokenSealer::from_config(&MailTokenPublicKeyConfig::default())
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("auth.settings.mail_token_public_key"),
            "{missing}"
        );
    }
}
