//! Settings of the notification service: which mail adapter sends (`.eml` files or SMTP),
//! the SMTP server and how the connection is secured, the sender address, the web app
//! the links in mails point to and the secret keys that open mailed tokens; each checked
//! with every problem named by its key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gigmesh_config::{Problems, Secret, Validate, join};
use lettre::address::AddressError;
use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};

/// Which mail adapter sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailerKind {
    /// `.eml` files in [`Config::file_dir`] (development).
    File,
    /// An SMTP server ([`Config::smtp`]).
    Smtp,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text; only for a relay on the same host or network.
    None,
    /// Plain connection upgraded with STARTTLS, which is required (usually port 587).
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

/// The SMTP server mail is sent through.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name of the server (also the name its TLS certificate must carry).
    pub host: String,
    /// Port.
    pub port: u16,
    /// User name, when the server wants authentication.
    pub username: Option<String>,
    /// Password, given together with `username`.
    pub password: Option<Secret<String>>,
    /// Transport security.
    pub tls: SmtpTls,
    /// Longest wait for the server on one command, in seconds.
    pub timeout_seconds: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: "localhost".to_owned(),
            port: 587,
            username: None,
            password: None,
            tls: SmtpTls::Starttls,
            timeout_seconds: 30,
        }
    }
}

impl Validate for SmtpConfig {
    fn validate(&self, path: &str, problems: &mut Problems) {
        if self.host.trim().is_empty() {
            problems.add(path, "host", "must name the smtp server");
        }
        if self.port == 0 {
            problems.add(path, "port", "must be a port between 1 and 65535");
        }
        if self.username.is_some() != self.password.is_some() {
            problems.add(
                path,
                "username",
                "username and password must be given together",
            );
        }
        if self.timeout_seconds == 0 || self.timeout_seconds > 600 {
            problems.add(path, "timeout_seconds", "must be between 1 and 600");
        }
    }
}

/// Settings of the notification service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Which mail adapter sends.
    pub mailer: MailerKind,
    /// Directory of the `.eml` files (file mailer only).
    pub file_dir: PathBuf,
    /// The SMTP server (smtp mailer only).
    pub smtp: SmtpConfig,
    /// The sender of every mail, e.g. `gigmesh <no-reply@gigmesh.example>`.
    pub from: String,
    /// Base URL of the web app that mail links point to.
    pub web_app_url: String,
    /// The secret keys that open the tokens auth seals into its mail events, by key id
    /// (`mail_token_keys.<key_id>`, standard base64 of 32 bytes; ids are lowercase letters,
    /// digits and `_`). Only this service holds them; auth holds the public key of one.
    /// Several may be held so a key can be rotated: add the new one, give auth its public
    /// key, and remove the old one once the tokens sealed to it have expired (a day).
    pub mail_token_keys: BTreeMap<String, Secret<String>>,
    /// A file holding one key pair's `<key_id> <secret_key>`, read when `mail_token_keys` is
    /// empty; `gigmesh dev` creates it (`<data_dir>/notifications/mail-token.key`, with the
    /// public key beside it in `mail-token.pub` for auth).
    pub mail_token_key_file: PathBuf,
    /// Attempts of the consumer of orders', payments' and users' events before it
    /// dead-letters an event (at least `bus.event_max_attempts`). An order mail whose
    /// recipient's address has not arrived from auth yet is retried this often, with pauses
    /// doubling from 100 ms up to 10 s: 30 attempts wait about four minutes.
    pub order_events_max_attempts: u32,
    /// How long a message may wait unread before its recipient gets one mail for the
    /// conversation's unread messages, in seconds (default 600: ten minutes).
    pub message_digest_delay_seconds: u64,
    /// Pause between two runs of the loop that sends those mails, in seconds (default 5).
    pub digest_interval_seconds: u64,
    /// Mails of unread messages sent per run of the loop (default 100).
    pub digest_batch_size: u32,
}

/// Default of [`Config::order_events_max_attempts`].
const DEFAULT_ORDER_EVENTS_MAX_ATTEMPTS: u32 = 30;
/// Most attempts [`Config::order_events_max_attempts`] may ask for (about two hours).
const MAX_ORDER_EVENTS_ATTEMPTS: u32 = 1000;

impl Default for Config {
    fn default() -> Self {
        Self {
            mailer: MailerKind::File,
            file_dir: PathBuf::from(".gigmesh/mail"),
            smtp: SmtpConfig::default(),
            from: "gigmesh <no-reply@gigmesh.localhost>".to_owned(),
            web_app_url: "http://127.0.0.1:8080".to_owned(),
            mail_token_keys: BTreeMap::new(),
            mail_token_key_file: PathBuf::new(),
            order_events_max_attempts: DEFAULT_ORDER_EVENTS_MAX_ATTEMPTS,
            message_digest_delay_seconds: 600,
            digest_interval_seconds: 5,
            digest_batch_size: 100,
        }
    }
}

impl Validate for Config {
    fn validate(&self, path: &str, problems: &mut Problems) {
        for (key, value) in [
            (
                "message_digest_delay_seconds",
                self.message_digest_delay_seconds,
            ),
            ("digest_interval_seconds", self.digest_interval_seconds),
            ("digest_batch_size", u64::from(self.digest_batch_size)),
        ] {
            if value < 1 {
                problems.add(path, key, "must be at least 1");
            }
        }
        match self.mailer {
            MailerKind::File if self.file_dir.as_os_str().is_empty() => {
                problems.add(path, "file_dir", "must name a directory for the .eml files");
            }
            MailerKind::Smtp => self.smtp.validate(&join(path, "smtp"), problems),
            MailerKind::File => {}
        }
        if let Err(error) = self.sender() {
            problems.add(
                path,
                "from",
                format!("must be an address like `gigmesh <no-reply@example.com>`: {error}"),
            );
        }
        match url::Url::parse(&self.web_app_url) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.host_str().is_some()
                    && url.query().is_none()
                    && url.fragment().is_none() => {}
            _ => problems.add(
                path,
                "web_app_url",
                "must be an http(s) URL without query or fragment, e.g. https://gigmesh.example",
            ),
        }
        if !(1..=MAX_ORDER_EVENTS_ATTEMPTS).contains(&self.order_events_max_attempts) {
            problems.add(
                path,
                "order_events_max_attempts",
                format!("must be between 1 and {MAX_ORDER_EVENTS_ATTEMPTS}"),
            );
        }
        for (key_id, secret_key) in &self.mail_token_keys {
            let key = format!("mail_token_keys.{key_id}");
            if !is_valid_key_id(key_id) {
                problems.add(
                    path,
                    &key,
                    format!(
                        "the key id must be 1 to {MAX_KEY_ID_CHARS} lowercase letters, digits or \
                         `_`"
                    ),
                );
            }
            if let Err(error) = crate::mail_token::parse_secret_key(secret_key.expose()) {
                problems.add(
                    path,
                    &key,
                    format!("must be an X25519 secret key, standard base64 of 32 bytes: {error}"),
                );
            }
        }
    }
}

/// Longest mail-token key id (it is also part of an environment variable's name).
const MAX_KEY_ID_CHARS: usize = 32;

/// Whether `key_id` can name a mail-token key: 1 to 32 lowercase ASCII letters, digits and
/// `_` (the environment layer lowercases names).
fn is_valid_key_id(key_id: &str) -> bool {
    (1..=MAX_KEY_ID_CHARS).contains(&key_id.len())
        && key_id
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

impl Config {
    /// Dev mode: the `.eml` files and the mail-token key pair under `data_dir`.
    pub fn use_data_dir(&mut self, data_dir: &Path) {
        self.use_data_dir_for_mail(data_dir);
        if self.mail_token_keys.is_empty() && self.mail_token_key_file.as_os_str().is_empty() {
            self.mail_token_key_file = data_dir.join("notifications").join("mail-token.key");
        }
    }

    /// Puts the `.eml` files under `data_dir/mail` unless another directory was configured
    /// (dev mode keeps everything under its data directory, e.g. `.gigmesh/mail/`).
    pub fn use_data_dir_for_mail(&mut self, data_dir: &Path) {
        if self.file_dir == Config::default().file_dir {
            self.file_dir = data_dir.join("mail");
        }
    }

    /// The sender of every mail, parsed from [`Config::from`].
    pub fn sender(&self) -> Result<Mailbox, AddressError> {
        self.from.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(config: &Config) -> String {
        let mut problems = Problems::default();
        Validate::validate(config, "notifications", &mut problems);
        format!("{problems:?}")
    }

    #[test]
    fn the_defaults_are_valid_and_write_files() {
        let config = Config::default();
        assert!(
            gigmesh_config::check(&config, "notifications.settings").is_ok(),
            "{}",
            problems_of(&config)
        );
        assert_eq!(config.mailer, MailerKind::File);
    }

    #[test]
    fn smtp_settings_are_checked_only_when_smtp_sends() {
        let mut config = Config {
            smtp: SmtpConfig {
                host: String::new(),
                port: 0,
                username: Some("mailer".to_owned()),
                password: None,
                ..SmtpConfig::default()
            },
            ..Config::default()
        };
        assert!(gigmesh_config::check(&config, "notifications.settings").is_ok());
        config.mailer = MailerKind::Smtp;
        let problems = problems_of(&config);
        for key in ["smtp.host", "smtp.port", "smtp.username"] {
            assert!(problems.contains(key), "{key} in {problems}");
        }
    }

    #[test]
    fn sender_and_web_app_url_must_parse() {
        let config = Config {
            from: "not an address".to_owned(),
            web_app_url: "ftp://example.com/?x=1".to_owned(),
            ..Config::default()
        };
        let problems = problems_of(&config);
        for key in ["notifications.from", "notifications.web_app_url"] {
            assert!(problems.contains(key), "{key} in {problems}");
        }
        assert!(gigmesh_config::check(&config, "notifications.settings").is_err());
    }

    #[test]
    fn order_events_need_at_least_one_attempt() {
        for attempts in [0, MAX_ORDER_EVENTS_ATTEMPTS + 1] {
            let config = Config {
                order_events_max_attempts: attempts,
                ..Config::default()
            };
            let problems = problems_of(&config);
            assert!(
                problems.contains("notifications.order_events_max_attempts"),
                "{problems}"
            );
        }
    }

    #[test]
    fn dev_mode_moves_the_default_mail_directory_under_the_data_dir() {
        let mut config = Config::default();
        config.use_data_dir_for_mail(Path::new("/tmp/gigmesh-data"));
        assert_eq!(config.file_dir, PathBuf::from("/tmp/gigmesh-data/mail"));

        let mut configured = Config {
            file_dir: PathBuf::from("/var/mail/gigmesh"),
            ..Config::default()
        };
        configured.use_data_dir_for_mail(Path::new("/tmp/gigmesh-data"));
        assert_eq!(configured.file_dir, PathBuf::from("/var/mail/gigmesh"));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let config = Config {
            smtp: SmtpConfig {
                username: Some("mailer".to_owned()),
                password: Some(Secret::new("hunter2".to_owned())),
                ..SmtpConfig::default()
            },
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn a_bad_mail_token_key_is_named_by_its_id_and_never_printed() {
        let config = Config {
            mail_token_keys: BTreeMap::from([
                ("k1".to_owned(), Secret::new("c2hvcnQ=".to_owned())),
                (
                    "Bad-Id".to_owned(),
                    Secret::new("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".to_owned()),
                ),
                (
                    "k2".to_owned(),
                    Secret::new("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".to_owned()),
                ),
            ]),
            ..Config::default()
        };
        let message = gigmesh_config::check(&config, "notifications.settings")
            .unwrap_err()
            .to_string();
        for key in [
            "notifications.settings.mail_token_keys.k1",
            "notifications.settings.mail_token_keys.Bad-Id",
        ] {
            assert!(message.contains(key), "{key} in {message}");
        }
        assert!(!message.contains("mail_token_keys.k2"), "{message}");
        assert!(!message.contains("c2hvcnQ="), "{message}");
        assert!(!format!("{config:?}").contains("AQEBAQEB"));
    }

    #[test]
    fn dev_mode_keeps_the_mail_token_key_under_the_data_dir_unless_keys_are_configured() {
        let mut config = Config::default();
        config.use_data_dir(Path::new("/tmp/gigmesh-data"));
        assert_eq!(
            config.mail_token_key_file,
            PathBuf::from("/tmp/gigmesh-data/notifications/mail-token.key")
        );
        let mut configured = Config {
            mail_token_keys: BTreeMap::from([(
                "k1".to_owned(),
                Secret::new("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".to_owned()),
            )]),
            ..Config::default()
        };
        configured.use_data_dir(Path::new("/tmp/gigmesh-data"));
        assert!(configured.mail_token_key_file.as_os_str().is_empty());
    }
}
