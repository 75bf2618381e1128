//! Opening the tokens auth seals into its mail events. Auth seals each token (a libsodium
//! sealed box: X25519 and XSalsa20-Poly1305) to a public key whose secret half only this
//! service holds, so the token is unreadable in auth's outbox, on the bus, in dead letters
//! and to every other consumer. Several secret keys may be held at once, by key id, so a
//! key can be rotated: new mails are sealed to the newest while older events still open.
//!
//! `gigmesh dev` configures nothing: the key pair is created once under the data directory,
//! the secret key for this service and the public key beside it for auth.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_box::SecretKey;
use crypto_box::aead::OsRng;

use crate::config::Config;

/// Bytes of an X25519 secret key.
const SECRET_KEY_BYTES: usize = crypto_box::KEY_SIZE;
/// Id of the key pair `gigmesh dev` creates.
const DEV_KEY_ID: &str = "dev";
/// Name of the file holding the public half beside the secret key file.
const PUBLIC_KEY_FILE_EXTENSION: &str = "pub";

/// Why a sealed token did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// No secret key with the id the event names.
    #[error("the token is sealed to key {0:?}, which this service does not hold")]
    UnknownKey(String),
    /// The box does not open with the key it names: sealed to another key, or tampered with.
    #[error("the sealed token does not open with key {0:?}: sealed to another key or altered")]
    DoesNotOpen(String),
    /// It opened, but what was sealed is not a token.
    #[error("the sealed token is not UTF-8 text")]
    NotText,
}

/// The secret keys this service opens mailed tokens with, by key id.
#[derive(Clone)]
pub struct MailTokenKeys {
    keys: BTreeMap<String, SecretKey>,
}

impl std::fmt::Debug for MailTokenKeys {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MailTokenKeys")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl MailTokenKeys {
    /// The configured keys, or the key pair in the configured file when none is given.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        if !config.mail_token_keys.is_empty() {
            let mut keys = BTreeMap::new();
            for (key_id, secret_key) in &config.mail_token_keys {
                let key = parse_secret_key(secret_key.expose()).with_context(|| {
                    format!("notifications.settings.mail_token_keys.{key_id}: unusable key")
                })?;
                keys.insert(key_id.clone(), key);
            }
            return Ok(Self { keys });
        }
        if config.mail_token_key_file.as_os_str().is_empty() {
            anyhow::bail!(
                "notifications.settings.mail_token_keys is empty: give at least one secret key \
                 (mail_token_keys.<key_id> = standard base64 of 32 bytes) whose public key auth \
                 seals mailed tokens to"
            );
        }
        Self::read_file(&config.mail_token_key_file)
    }

    /// Opens `sealed`, sealed to the key called `key_id`.
    pub fn open(&self, key_id: &str, sealed: &[u8]) -> Result<String, OpenError> {
        let key = self
            .keys
            .get(key_id)
            .ok_or_else(|| OpenError::UnknownKey(key_id.to_owned()))?;
        let opened = key
            .unseal(sealed)
            .map_err(|_| OpenError::DoesNotOpen(key_id.to_owned()))?;
        String::from_utf8(opened).map_err(|_| OpenError::NotText)
    }

    /// Reads `<key_id> <secret_key>` from `path`.
    fn read_file(path: &Path) -> anyhow::Result<Self> {
        let context = || {
            format!(
                "notifications.settings.mail_token_key_file: cannot read the mail-token key from \
                 {}",
                path.display()
            )
        };
        let text = std::fs::read_to_string(path).with_context(context)?;
        let (key_id, secret_key) = parse_key_line(&text).with_context(context)?;
        let key = parse_secret_key(secret_key).with_context(context)?;
        Ok(Self {
            keys: BTreeMap::from([(key_id.to_owned(), key)]),
        })
    }
}

/// Creates the dev key pair in `config`'s key file, unless keys are configured or the file
/// exists: the secret key (readable by its owner only) and, beside it with the extension
/// `.pub`, the public key auth reads. `gigmesh dev` calls it before building any service,
/// since auth, which is built first, needs the public key.
pub fn create_dev_key_pair(config: &Config) -> anyhow::Result<()> {
    let path = &config.mail_token_key_file;
    if !config.mail_token_keys.is_empty() || path.as_os_str().is_empty() {
        return Ok(());
    }
    let public_path = public_key_file(path);
    if path.exists() {
        if !public_path.exists() {
            let keys = MailTokenKeys::read_file(path)?;
            let (key_id, key) = keys
                .keys
                .iter()
                .next()
                .context("the key file holds no key")?;
            write_public_key(&public_path, key_id, key)?;
        }
        return Ok(());
    }
    if let Some(directory) = path.parent() {
        std::fs::create_dir_all(directory)
            .with_context(|| format!("cannot create {}", directory.display()))?;
    }
    let key = SecretKey::generate(&mut OsRng);
    write_secret_key(path, DEV_KEY_ID, &key)?;
    write_public_key(&public_path, DEV_KEY_ID, &key)?;
    tracing::info!(path = %path.display(), key_id = DEV_KEY_ID, "mail-token key pair created");
    Ok(())
}

/// The public key file beside the secret key file `path`.
pub fn public_key_file(path: &Path) -> PathBuf {
    path.with_extension(PUBLIC_KEY_FILE_EXTENSION)
}

fn write_secret_key(path: &Path, key_id: &str, key: &SecretKey) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{key_id} {}", STANDARD.encode(key.to_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn write_public_key(path: &Path, key_id: &str, key: &SecretKey) -> anyhow::Result<()> {
    let line = format!(
        "{key_id} {}\n",
        STANDARD.encode(key.public_key().as_bytes())
    );
    std::fs::write(path, line).with_context(|| format!("cannot write {}", path.display()))
}

/// `<key_id> <key>` on one line.
fn parse_key_line(text: &str) -> anyhow::Result<(&str, &str)> {
    let mut words = text.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(key_id), Some(key), None) => Ok((key_id, key)),
        _ => anyhow::bail!("expected `<key_id> <base64 key>`"),
    }
}

/// An X25519 secret key from its standard base64 form.
pub(crate) fn parse_secret_key(encoded: &str) -> anyhow::Result<SecretKey> {
    let bytes = STANDARD
        .decode(encoded.trim())
        .context("the secret key is not standard base64")?;
    let bytes: [u8; SECRET_KEY_BYTES] = bytes.try_into().map_err(|bytes: Vec<u8>| {
        anyhow::anyhow!(
            "the secret key has {} bytes, not {SECRET_KEY_BYTES}",
            bytes.len()
        )
    })?;
    Ok(SecretKey::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gigmesh_config::Secret;

    fn config_with(keys: &[(&str, &SecretKey)]) -> Config {
        Config {
            mail_token_keys: keys
                .iter()
                .map(|(id, key)| {
                    (
                        (*id).to_owned(),
                        Secret::new(STANDARD.encode(key.to_bytes())),
                    )
                })
                .collect(),
            ..Config::default()
        }
    }

    #[test]
    fn every_held_key_opens_what_was_sealed_to_it() {
        let old = SecretKey::generate(&mut OsRng);
        let new = SecretKey::generate(&mut OsRng);
        let keys =
            MailTokenKeys::from_config(&config_with(&[("old", &old), ("new", &new)])).unwrap();
        let to_old = old.public_key().seal(&mut OsRng, b"token-1").unwrap();
        let to_new = new.public_key().seal(&mut OsRng, b"token-2").unwrap();
        assert_eq!(keys.open("old", &to_old).unwrap(), "token-1");
        assert_eq!(keys.open("new", &to_new).unwrap(), "token-2");
        assert_eq!(
            keys.open("new", &to_old),
            Err(OpenError::DoesNotOpen("new".to_owned()))
        );
        assert_eq!(
            keys.open("gone", &to_old),
            Err(OpenError::UnknownKey("gone".to_owned()))
        );
        let mut tampered = to_new.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(matches!(
            keys.open("new", &tampered),
            Err(OpenError::DoesNotOpen(_))
        ));
        assert!(!format!("{keys:?}").contains(&STANDARD.encode(new.to_bytes())));
    }

    #[test]
    fn keys_made_with_openssl_work() {
        // `openssl genpkey -algorithm X25519`, then the last 32 bytes of the DER of the
        // private and the public key, as the Helm chart's values describe.
        let secret = parse_secret_key("qOaLkhgFWmh0pGSQ88EacmCq0sHQCXgAVz1Mv3YDM2s=").unwrap();
        assert_eq!(
            STANDARD.encode(secret.public_key().as_bytes()),
            "RysomQ3tTJ/1rICei9dSPHtbOTSki/3YpYwJPybwa1o="
        );
    }

    #[test]
    fn the_dev_key_pair_is_created_once_and_read_back() {
        let directory = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.use_data_dir(directory.path());
        create_dev_key_pair(&config).unwrap();
        let secret_file = directory.path().join("notifications/mail-token.key");
        let public_file = directory.path().join("notifications/mail-token.pub");
        let first = std::fs::read_to_string(&secret_file).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&secret_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "only its owner reads the secret key");
        }
        create_dev_key_pair(&config).unwrap();
        assert_eq!(std::fs::read_to_string(&secret_file).unwrap(), first);

        let keys = MailTokenKeys::from_config(&config).unwrap();
        let public = std::fs::read_to_string(&public_file).unwrap();
        let (key_id, public_key) = parse_key_line(&public).unwrap();
        let public_key: [u8; 32] = STANDARD.decode(public_key).unwrap().try_into().unwrap();
        let sealed = crypto_box::PublicKey::from(public_key)
            .seal(&mut OsRng, b"dev-token")
            .unwrap();
        assert_eq!(keys.open(key_id, &sealed).unwrap(), "dev-token");
    }

    #[test]
    fn without_keys_or_a_key_file_the_service_names_the_setting() {
        let message = MailTokenKeys::from_config(&Config::default())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("notifications.settings.mail_token_keys"),
            "{message}"
        );
    }
}
