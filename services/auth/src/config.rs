//! The auth service's settings: token lifetimes, the mail cooldown, the key mailed tokens are
//! sealed to, password hashing cost and log-in throttling.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gigmesh_config::{Problems, Validate};
use serde::{Deserialize, Serialize};

/// Settings of the auth service. Every field has a production default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Lifetime of access tokens, seconds (default 900 = 15 minutes).
    pub access_token_ttl_seconds: u64,
    /// Lifetime of each refresh token, seconds (default 2 592 000 = 30 days). Every refresh
    /// issues a new one, so a session lives as long as it is used at least this often.
    pub refresh_token_ttl_seconds: u64,
    /// Lifetime of email-verification tokens, seconds (default 86 400 = 24 hours).
    pub email_verification_ttl_seconds: u64,
    /// Lifetime of password-reset tokens, seconds (default 3 600 = 1 hour).
    pub password_reset_ttl_seconds: u64,
    /// Shortest gap between two mails of one kind (password reset, email verification) that
    /// requests send to one account, seconds (default 60). A request within the gap is
    /// answered as usual and sends nothing; the gap is at most the tokens' lifetimes, so the
    /// token of the mail before has not expired.
    pub mail_cooldown_seconds: u64,
    /// The notification service's public key that mailed tokens are sealed to.
    pub mail_token_public_key: MailTokenPublicKeyConfig,
    /// Cost of password hashing.
    pub argon2: Argon2Config,
    /// Throttling of failed log-ins.
    pub throttle: ThrottleConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            access_token_ttl_seconds: 15 * 60,
            refresh_token_ttl_seconds: 30 * 24 * 60 * 60,
            email_verification_ttl_seconds: 24 * 60 * 60,
            password_reset_ttl_seconds: 60 * 60,
            mail_cooldown_seconds: 60,
            mail_token_public_key: MailTokenPublicKeyConfig::default(),
            argon2: Argon2Config::default(),
            throttle: ThrottleConfig::default(),
        }
    }
}

/// The key verification and reset tokens are sealed to before they enter an event: the
/// public half of a key pair whose secret half only the notification service holds
/// (`notifications.settings.mail_token_keys.<key_id>`), so the token is readable only by
/// the mailer. Give `key_id` and `public_key`; with neither, the key is read from `file`
/// (`gigmesh dev` points it at the key pair notifications creates under the data
/// directory). A service that mails nothing without it refuses to start without one.
///
/// To rotate: add the new secret key to notifications (keeping the old), then give auth
/// the new public key; remove the old secret key once the tokens sealed to it expired.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailTokenPublicKeyConfig {
    /// Id of the key, as notifications knows it: lowercase letters, digits and `_`.
    pub key_id: String,
    /// The X25519 public key, standard base64 of its 32 bytes.
    pub public_key: String,
    /// A file holding `<key_id> <public_key>`, read at start when neither is given.
    pub file: PathBuf,
}

/// Longest mail-token key id (it is also part of an environment variable's name).
pub(crate) const MAX_KEY_ID_CHARS: usize = 32;

/// Whether `key_id` can name a mail-token key: 1 to 32 lowercase ASCII letters, digits and
/// `_` (the environment layer lowercases names, so notifications' ids are lowercase).
pub(crate) fn is_valid_key_id(key_id: &str) -> bool {
    (1..=MAX_KEY_ID_CHARS).contains(&key_id.len())
        && key_id
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

impl MailTokenPublicKeyConfig {
    fn validate(&self, path: &str, problems: &mut Problems) {
        let path = gigmesh_config::join(path, "mail_token_public_key");
        if self.key_id.is_empty() && self.public_key.is_empty() {
            return;
        }
        if !is_valid_key_id(&self.key_id) {
            problems.add(
                &path,
                "key_id",
                format!(
                    "must be 1 to {MAX_KEY_ID_CHARS} lowercase letters, digits or `_`, the id                      notifications knows the key by"
                ),
            );
        }
        if let Err(error) = crate::mail_token::parse_public_key(&self.public_key) {
            problems.add(
                &path,
                "public_key",
                format!("must be an X25519 public key, standard base64 of 32 bytes: {error}"),
            );
        }
    }

    /// Dev mode: reads the public key notifications writes under `data_dir`, unless a key
    /// or another file was configured.
    pub fn use_data_dir(&mut self, data_dir: &Path) {
        if self.key_id.is_empty() && self.public_key.is_empty() && self.file.as_os_str().is_empty()
        {
            self.file = data_dir.join("notifications").join("mail-token.pub");
        }
    }
}

/// Argon2id cost parameters, and how many hashes may run and wait at once. The cost defaults
/// are OWASP's recommendation for argon2id (m = 19 MiB, t = 2, p = 1). Stored hashes carry
/// their own parameters, so raising them only affects new hashes; accounts are re-hashed at
/// their next successful log-in.
///
/// Every running hash uses one of `max_concurrent_hashes` argon2 block buffers of
/// `memory_kib`, each allocated on its slot's first hash and then kept and reused, so the
/// argon2 memory is at most `max_concurrent_hashes × memory_kib`: 8 × 19 MiB = 152 MiB with
/// the defaults. A waiting hash holds no argon2 memory. Only verifying a stored hash made
/// with more memory than `memory_kib` allocates a buffer of its own for that call. The
/// sign-in burst benchmark (docs/benchmarks.md) measures the process's peak. Hashing is
/// CPU-bound, so more hashes than cores only add memory and latency, not throughput; a hash
/// that would find `max_concurrent_hashes` running and `max_queued_hashes` waiting is refused
/// with `RESOURCE_EXHAUSTED` and a retry hint. Lower `max_concurrent_hashes` when raising
/// `memory_kib`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Config {
    /// Memory per hash, KiB (default 19 456).
    pub memory_kib: u32,
    /// Passes over the memory (default 2).
    pub iterations: u32,
    /// Lanes (default 1).
    pub parallelism: u32,
    /// Hashes (and verifications) running at once (default: the available cores, at most
    /// 8).
    pub max_concurrent_hashes: u32,
    /// Hashes waiting for a running slot; one more is refused (default 16).
    pub max_queued_hashes: u32,
}

/// The most hashes the default lets run at once (8 × 19 MiB of argon2 blocks in flight).
const DEFAULT_MAX_CONCURRENT_HASHES: u32 = 8;

impl Default for Argon2Config {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            max_concurrent_hashes: u32::try_from(cores)
                .unwrap_or(u32::MAX)
                .clamp(1, DEFAULT_MAX_CONCURRENT_HASHES),
            max_queued_hashes: 16,
        }
    }
}

/// Throttling of failed password attempts. Counters live in the database, so replicas share
/// them; a refused attempt is answered `RESOURCE_EXHAUSTED` with a retry hint and counts
/// nothing.
///
/// Log-ins are throttled three ways. Per client network (an IPv4 address, or an IPv6 /64),
/// across all accounts, `max_failures_per_address` per window. Per account and client
/// network, progressively: after `free_failures_per_network` failures of an account from
/// one network, every further attempt for it from there waits, `first_delay_seconds` and
/// then twice as long after each failure, up to `max_delay_seconds`; a proven password from
/// that network clears its count, and a window without a failure ends it. Guessing from one
/// network therefore slows down only that network: usernames are public, and nobody
/// elsewhere can lock the owner out. Per account across all networks,
/// `max_failures_per_account` per window, against guessing spread over many networks; once
/// reached, only networks the account proved its password from within
/// `known_network_ttl_seconds` are still let through until the window ends. Unknown log-in
/// names are throttled exactly like accounts, so throttling tells nobody which exist.
///
/// ChangePassword's caller is signed in, so its wrong current passwords are counted per
/// account: `max_failed_password_changes` per window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Length of the counting windows, seconds (default 900 = 15 minutes); also how long a
    /// network's series of failures against an account lasts after its last failure.
    pub window_seconds: u64,
    /// Failed log-ins allowed per client network, all accounts together, per window
    /// (default 20).
    pub max_failures_per_address: u32,
    /// Failed log-ins of one account from one client network before its attempts from
    /// there wait (default 3).
    pub free_failures_per_network: u32,
    /// Wait after the first failure beyond the free ones, seconds (default 1); each further
    /// failure doubles it.
    pub first_delay_seconds: u64,
    /// Longest wait between attempts of one account from one network, seconds (default 300
    /// = 5 minutes); at most `window_seconds`.
    pub max_delay_seconds: u64,
    /// Failed log-ins allowed per account (or unknown log-in name) per window from all
    /// networks together (default 100); then only its known networks get through.
    pub max_failures_per_account: u32,
    /// How long a network the account proved its password from stays known, seconds
    /// (default 2 592 000 = 30 days, as the `login_networks` retention horizon).
    pub known_network_ttl_seconds: u64,
    /// Wrong current passwords ChangePassword allows per account per window (default 5).
    pub max_failed_password_changes: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            window_seconds: 15 * 60,
            max_failures_per_address: 20,
            free_failures_per_network: 3,
            first_delay_seconds: 1,
            max_delay_seconds: 5 * 60,
            max_failures_per_account: 100,
            known_network_ttl_seconds: 30 * 24 * 60 * 60,
            max_failed_password_changes: 5,
        }
    }
}

const MAX_TTL_SECONDS: u64 = 365 * 24 * 60 * 60;
/// Far more hashes at once than any machine has cores for.
const MAX_CONCURRENT_HASHES: u32 = 256;
/// A longer queue only makes callers wait longer before the same refusal.
const MAX_QUEUED_HASHES: u32 = 4_096;

impl Config {
    /// Lifetime of access tokens.
    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_seconds)
    }

    /// Lifetime of refresh tokens.
    pub fn refresh_token_ttl(&self) -> Duration {
        Duration::from_secs(self.refresh_token_ttl_seconds)
    }

    /// Lifetime of email-verification tokens.
    pub fn email_verification_ttl(&self) -> Duration {
        Duration::from_secs(self.email_verification_ttl_seconds)
    }

    /// Lifetime of password-reset tokens.
    pub fn password_reset_ttl(&self) -> Duration {
        Duration::from_secs(self.password_reset_ttl_seconds)
    }

    /// Shortest gap between two requested mails of one kind to one account.
    pub fn mail_cooldown(&self) -> Duration {
        Duration::from_secs(self.mail_cooldown_seconds)
    }
}

impl ThrottleConfig {
    /// Length of the counting window.
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_seconds)
    }

    /// Wait after the first failure of an account from a network beyond the free ones.
    pub fn first_delay(&self) -> Duration {
        Duration::from_secs(self.first_delay_seconds)
    }

    /// Longest wait between attempts of an account from one network.
    pub fn max_delay(&self) -> Duration {
        Duration::from_secs(self.max_delay_seconds)
    }

    /// How long a network an account logged in from stays known.
    pub fn known_network_ttl(&self) -> Duration {
        Duration::from_secs(self.known_network_ttl_seconds)
    }

    fn validate(&self, path: &str, problems: &mut Problems) {
        check_lifetime(
            path,
            "throttle.window_seconds",
            self.window_seconds,
            problems,
        );
        check_lifetime(
            path,
            "throttle.known_network_ttl_seconds",
            self.known_network_ttl_seconds,
            problems,
        );
        for (key, limit) in [
            (
                "throttle.max_failures_per_address",
                self.max_failures_per_address,
            ),
            (
                "throttle.free_failures_per_network",
                self.free_failures_per_network,
            ),
            (
                "throttle.max_failures_per_account",
                self.max_failures_per_account,
            ),
            (
                "throttle.max_failed_password_changes",
                self.max_failed_password_changes,
            ),
        ] {
            if limit == 0 {
                problems.add(path, key, "must be at least 1");
            }
        }
        if self.first_delay_seconds == 0 || self.first_delay_seconds > self.max_delay_seconds {
            problems.add(
                path,
                "throttle.first_delay_seconds",
                "must be at least 1 second and at most max_delay_seconds",
            );
        }
        // A series of failures ends a window after its last one, so a longer wait would
        // never be waited out.
        if self.max_delay_seconds == 0 || self.max_delay_seconds > self.window_seconds {
            problems.add(
                path,
                "throttle.max_delay_seconds",
                "must be at least 1 second and at most window_seconds",
            );
        }
    }
}

impl Validate for Config {
    fn validate(&self, path: &str, problems: &mut Problems) {
        if !(60..=24 * 60 * 60).contains(&self.access_token_ttl_seconds) {
            problems.add(
                path,
                "access_token_ttl_seconds",
                "must be between 60 and 86400 seconds",
            );
        }
        if self.refresh_token_ttl_seconds <= self.access_token_ttl_seconds
            || self.refresh_token_ttl_seconds > MAX_TTL_SECONDS
        {
            problems.add(
                path,
                "refresh_token_ttl_seconds",
                format!(
                    "must be longer than access_token_ttl_seconds and at most {MAX_TTL_SECONDS}"
                ),
            );
        }
        for (key, value) in [
            (
                "email_verification_ttl_seconds",
                self.email_verification_ttl_seconds,
            ),
            (
                "password_reset_ttl_seconds",
                self.password_reset_ttl_seconds,
            ),
        ] {
            check_lifetime(path, key, value, problems);
        }
        // A request within the cooldown sends nothing, so the token of the mail before it must
        // not expire before the cooldown ends.
        let shortest_mailed_ttl = self
            .email_verification_ttl_seconds
            .min(self.password_reset_ttl_seconds);
        if self.mail_cooldown_seconds == 0 || self.mail_cooldown_seconds > shortest_mailed_ttl {
            problems.add(
                path,
                "mail_cooldown_seconds",
                "must be at least 1 second and at most email_verification_ttl_seconds and \
                 password_reset_ttl_seconds",
            );
        }
        self.mail_token_public_key.validate(path, problems);
        if !(1..=16).contains(&self.argon2.parallelism) {
            problems.add(path, "argon2.parallelism", "must be between 1 and 16");
        }
        if !(1..=100).contains(&self.argon2.iterations) {
            problems.add(path, "argon2.iterations", "must be between 1 and 100");
        }
        let min_memory = 8 * self.argon2.parallelism.max(1);
        if self.argon2.memory_kib < min_memory || self.argon2.memory_kib > 4 * 1024 * 1024 {
            problems.add(
                path,
                "argon2.memory_kib",
                format!("must be between {min_memory} (8 per lane) and 4194304 KiB"),
            );
        }
        if !(1..=MAX_CONCURRENT_HASHES).contains(&self.argon2.max_concurrent_hashes) {
            problems.add(
                path,
                "argon2.max_concurrent_hashes",
                format!("must be between 1 and {MAX_CONCURRENT_HASHES}"),
            );
        }
        if self.argon2.max_queued_hashes > MAX_QUEUED_HASHES {
            problems.add(
                path,
                "argon2.max_queued_hashes",
                format!("must be at most {MAX_QUEUED_HASHES}"),
            );
        }
        self.throttle.validate(path, problems);
    }
}

/// A lifetime or window of `seconds` must last between a second and a year.
fn check_lifetime(path: &str, key: &str, seconds: u64, problems: &mut Problems) {
    if !(1..=MAX_TTL_SECONDS).contains(&seconds) {
        problems.add(
            path,
            key,
            format!("must be between 1 and {MAX_TTL_SECONDS} seconds"),
        );
    }
}

/// Milliseconds of a duration, for arithmetic on stored unix-millis timestamps.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_follow_owasp() {
        let config = Config::default();
        gigmesh_config::check(&config, "auth.settings").unwrap();
        assert_eq!(config.argon2.memory_kib, 19_456);
        assert_eq!(config.argon2.iterations, 2);
        assert_eq!(config.argon2.parallelism, 1);
        assert!((1..=8).contains(&config.argon2.max_concurrent_hashes));
        assert_eq!(config.argon2.max_queued_hashes, 16);
        assert_eq!(config.access_token_ttl(), Duration::from_secs(900));
        assert_eq!(config.mail_cooldown(), Duration::from_secs(60));
    }

    #[test]
    fn the_mail_cooldown_ends_before_the_mailed_tokens_expire() {
        let config = Config {
            password_reset_ttl_seconds: 60,
            mail_cooldown_seconds: 61,
            ..Config::default()
        };
        let message = gigmesh_config::check(&config, "auth.settings")
            .unwrap_err()
            .to_string();
        assert!(message.contains("mail_cooldown_seconds"), "{message}");
        let as_long = Config {
            mail_cooldown_seconds: 60,
            ..config
        };
        gigmesh_config::check(&as_long, "auth.settings").unwrap();
    }

    #[test]
    fn every_problem_is_reported() {
        let config = Config {
            access_token_ttl_seconds: 0,
            password_reset_ttl_seconds: 0,
            mail_cooldown_seconds: 0,
            argon2: Argon2Config {
                memory_kib: 1,
                iterations: 0,
                parallelism: 0,
                max_concurrent_hashes: 0,
                max_queued_hashes: 5_000,
            },
            throttle: ThrottleConfig {
                window_seconds: 0,
                max_failures_per_address: 0,
                free_failures_per_network: 0,
                first_delay_seconds: 0,
                max_delay_seconds: 0,
                max_failures_per_account: 0,
                known_network_ttl_seconds: 0,
                max_failed_password_changes: 0,
            },
            ..Config::default()
        };
        let message = gigmesh_config::check(&config, "auth.settings")
            .unwrap_err()
            .to_string();
        for key in [
            "access_token_ttl_seconds",
            "password_reset_ttl_seconds",
            "mail_cooldown_seconds",
            "argon2.memory_kib",
            "argon2.iterations",
            "argon2.parallelism",
            "argon2.max_concurrent_hashes",
            "argon2.max_queued_hashes",
            "throttle.window_seconds",
            "throttle.max_failures_per_address",
            "throttle.free_failures_per_network",
            "throttle.first_delay_seconds",
            "throttle.max_delay_seconds",
            "throttle.max_failures_per_account",
            "throttle.known_network_ttl_seconds",
            "throttle.max_failed_password_changes",
        ] {
            assert!(message.contains(key), "{key} missing from {message}");
        }
    }

    #[test]
    fn throttle_waits_fit_between_one_second_and_the_window() {
        let throttle = ThrottleConfig::default();
        assert_eq!(throttle.first_delay(), Duration::from_secs(1));
        assert_eq!(throttle.max_delay(), Duration::from_secs(300));
        assert_eq!(
            throttle.known_network_ttl(),
            Duration::from_secs(30 * 24 * 60 * 60)
        );
        let longer_than_the_window = Config {
            throttle: ThrottleConfig {
                window_seconds: 60,
                max_delay_seconds: 61,
                ..throttle.clone()
            },
            ..Config::default()
        };
        let message = gigmesh_config::check(&longer_than_the_window, "auth.settings")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("auth.settings.throttle.max_delay_seconds"),
            "{message}"
        );
        assert!(!message.contains("first_delay_seconds"), "{message}");
        let first_beyond_the_longest = Config {
            throttle: ThrottleConfig {
                first_delay_seconds: 301,
                ..throttle.clone()
            },
            ..Config::default()
        };
        let message = gigmesh_config::check(&first_beyond_the_longest, "auth.settings")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("auth.settings.throttle.first_delay_seconds"),
            "{message}"
        );
        let as_long = Config {
            throttle: ThrottleConfig {
                first_delay_seconds: 60,
                max_delay_seconds: 60,
                window_seconds: 60,
                ..throttle
            },
            ..Config::default()
        };
        gigmesh_config::check(&as_long, "auth.settings").unwrap();
    }

    #[test]
    fn a_bad_mail_token_public_key_is_named() {
        let config = Config {
            mail_token_public_key: MailTokenPublicKeyConfig {
                key_id: "Key-1".to_owned(),
                public_key: "c2hvcnQ=".to_owned(),
                file: PathBuf::new(),
            },
            ..Config::default()
        };
        let message = gigmesh_config::check(&config, "auth.settings")
            .unwrap_err()
            .to_string();
        for key in [
            "auth.settings.mail_token_public_key.key_id",
            "auth.settings.mail_token_public_key.public_key",
        ] {
            assert!(message.contains(key), "{key} missing from {message}");
        }
        let good = Config {
            mail_token_public_key: MailTokenPublicKeyConfig {
                key_id: "k2026_1".to_owned(),
                public_key: "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".to_owned(),
                file: PathBuf::new(),
            },
            ..Config::default()
        };
        gigmesh_config::check(&good, "auth.settings").unwrap();
    }

    #[test]
    fn dev_mode_reads_the_public_key_notifications_writes_unless_one_is_configured() {
        let mut key = MailTokenPublicKeyConfig::default();
        key.use_data_dir(Path::new("/tmp/gigmesh-data"));
        assert_eq!(
            key.file,
            PathBuf::from("/tmp/gigmesh-data/notifications/mail-token.pub")
        );
        let mut configured = MailTokenPublicKeyConfig {
            key_id: "k1".to_owned(),
            public_key: "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".to_owned(),
            file: PathBuf::new(),
        };
        configured.use_data_dir(Path::new("/tmp/gigmesh-data"));
        assert!(configured.file.as_os_str().is_empty());
    }
}
