//! A mail-token key pair for tests: auth is configured with its public half, notifications
//! with its secret half, and a test opens what auth sealed or seals what auth would.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_box::aead::OsRng;
use crypto_box::{PublicKey, SecretKey};

/// A freshly generated X25519 key pair with its id, as the two services' settings hold it.
#[derive(Clone)]
pub struct TestMailTokenKeys {
    /// The key id (`notifications.settings.mail_token_keys.<key_id>`).
    pub key_id: String,
    secret_key: SecretKey,
}

impl std::fmt::Debug for TestMailTokenKeys {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TestMailTokenKeys")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl TestMailTokenKeys {
    /// A new pair called `key_id`.
    pub fn generate(key_id: &str) -> Self {
        Self {
            key_id: key_id.to_owned(),
            secret_key: SecretKey::generate(&mut OsRng),
        }
    }

    /// The public key, base64 (`auth.settings.mail_token_public_key.public_key`).
    pub fn public_key_base64(&self) -> String {
        STANDARD.encode(self.secret_key.public_key().as_bytes())
    }

    /// The secret key, base64 (`notifications.settings.mail_token_keys.<key_id>`).
    pub fn secret_key_base64(&self) -> String {
        STANDARD.encode(self.secret_key.to_bytes())
    }

    /// Seals `token` to the public key, as auth does.
    pub fn seal(&self, token: &str) -> Vec<u8> {
        self.public_key()
            .seal(&mut OsRng, token.as_bytes())
            .expect("seal a token")
    }

    /// Opens a token sealed to this pair, as notifications does; `None` if it does not open.
    pub fn open(&self, sealed: &[u8]) -> Option<String> {
        let opened = self.secret_key.unseal(sealed).ok()?;
        String::from_utf8(opened).ok()
    }

    fn public_key(&self) -> PublicKey {
        self.secret_key.public_key()
    }
}
