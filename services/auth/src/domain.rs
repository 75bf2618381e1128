//! Accounts, credentials and sessions as values, and the rules that decide what a request may
//! do with them. No IO: the store loads the facts, these functions decide.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use gigmesh_auth::Role;
use gigmesh_errors::ApiError;
use gigmesh_types::{SessionId, UserId};

use crate::error::AuthError;

/// Fewest characters of a username.
pub const USERNAME_MIN_CHARS: usize = 3;
/// Most characters of a username.
pub const USERNAME_MAX_CHARS: usize = 30;
/// Fewest characters of a password.
pub const PASSWORD_MIN_CHARS: usize = 10;
/// Most characters of a password.
pub const PASSWORD_MAX_CHARS: usize = 128;
/// Most characters of a log-in name (an email address is at most 254).
pub const LOGIN_MAX_CHARS: usize = 254;
/// Most characters of a suspension reason.
pub const SUSPENSION_REASON_MAX_CHARS: usize = 500;

/// Whether `raw` has more than `max` characters, without walking a huge input twice.
fn longer_than(raw: &str, max: usize) -> bool {
    // A char is at most 4 bytes: short inputs are decided by their byte length alone.
    raw.len() > max && (raw.len() > max * 4 || raw.chars().count() > max)
}

/// A username as chosen at sign-up: 3 to 30 characters, ASCII letters, digits, `_` or `-`,
/// starting with a letter. Unique regardless of case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Parses a request field.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let candidate = raw.trim();
        if candidate.is_empty() {
            return Err(ApiError::invalid(field, "is required"));
        }
        if longer_than(candidate, USERNAME_MAX_CHARS)
            || candidate.chars().count() < USERNAME_MIN_CHARS
        {
            return Err(ApiError::invalid(
                field,
                format!("must be {USERNAME_MIN_CHARS} to {USERNAME_MAX_CHARS} characters long"),
            ));
        }
        if !candidate.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(ApiError::invalid(
                field,
                "must start with a letter (a-z, A-Z)",
            ));
        }
        if !candidate
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ApiError::invalid(
                field,
                "may contain only letters (a-z, A-Z), digits, '_' and '-'",
            ));
        }
        Ok(Self(candidate.to_owned()))
    }

    /// The username as the owner spelled it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-cased form that uniqueness and log-in compare.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A password in clear text, only on its way to argon2. Never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Parses a password that is about to be set: 10 to 128 characters.
    pub fn parse_new(field: &str, raw: String) -> Result<Self, ApiError> {
        if raw.is_empty() {
            return Err(ApiError::invalid(field, "is required"));
        }
        if longer_than(&raw, PASSWORD_MAX_CHARS) || raw.chars().count() < PASSWORD_MIN_CHARS {
            return Err(ApiError::invalid(
                field,
                format!("must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters long"),
            ));
        }
        Ok(Self(raw))
    }

    /// Parses a password presented to be checked against a stored hash.
    pub fn parse_presented(field: &str, raw: String) -> Result<Self, ApiError> {
        if raw.is_empty() {
            return Err(ApiError::invalid(field, "is required"));
        }
        if longer_than(&raw, PASSWORD_MAX_CHARS) {
            return Err(ApiError::invalid(
                field,
                format!("must be at most {PASSWORD_MAX_CHARS} characters long"),
            ));
        }
        Ok(Self(raw))
    }

    /// The clear text, for the hasher.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Password([redacted])")
    }
}

/// What a user typed in the log-in field: an email address (it contains `@`) or a username.
/// Both are compared lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginName {
    /// A lower-cased email address.
    Email(String),
    /// A lower-cased username.
    Username(String),
}

impl LoginName {
    /// Parses a request field. Only the length is checked: a name that matches no account is
    /// answered like a wrong password.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let candidate = raw.trim();
        if candidate.is_empty() {
            return Err(ApiError::invalid(field, "is required"));
        }
        if longer_than(candidate, LOGIN_MAX_CHARS) {
            return Err(ApiError::invalid(
                field,
                format!("must be at most {LOGIN_MAX_CHARS} characters long"),
            ));
        }
        let lowered = candidate.to_lowercase();
        if lowered.contains('@') {
            Ok(Self::Email(lowered))
        } else {
            Ok(Self::Username(lowered))
        }
    }

    /// The subject under which failures are counted while no account matches the name, so
    /// that throttling treats unknown and known names alike.
    pub fn unknown_account_subject(&self) -> String {
        match self {
            Self::Email(email) => format!("unknown-email:{email}"),
            Self::Username(username) => format!("unknown-username:{username}"),
        }
    }
}

/// Whether an account may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    /// The account may log in.
    Active,
    /// An admin suspended the account.
    Suspended,
}

impl AccountState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }
}

impl FromStr for AccountState {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            other => Err(format!("unknown account state {other:?}")),
        }
    }
}

/// An account as the store keeps it (without its password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Id of the account, the user id everywhere.
    pub id: UserId,
    /// Normalised email address.
    pub email: String,
    /// Username as the owner spelled it.
    pub username: String,
    /// Whether the email address was verified.
    pub email_verified: bool,
    /// Roles held, in [`Role::ALL`] order.
    pub roles: Vec<Role>,
    /// Whether the account may be used.
    pub state: AccountState,
    /// When it was created, unix millis.
    pub create_time: i64,
}

impl Account {
    /// Whether an admin suspended the account.
    pub fn is_suspended(&self) -> bool {
        self.state == AccountState::Suspended
    }
}

/// `roles` as an account holds them: in [`Role::ALL`] order, each once.
pub fn role_set(roles: impl IntoIterator<Item = Role>) -> Vec<Role> {
    let mut roles: Vec<Role> = roles.into_iter().collect();
    roles.sort();
    roles.dedup();
    roles
}

/// Decides whether an account whose password just checked out may get a session. The order
/// matters: nothing about the account's state is told before the password is proven.
pub fn admit_log_in(account: &Account) -> Result<(), AuthError> {
    if account.is_suspended() {
        return Err(AuthError::AccountSuspended);
    }
    if !account.email_verified {
        return Err(AuthError::EmailNotVerified);
    }
    Ok(())
}

/// What a single-use mailed token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailedTokenPurpose {
    /// Proves control of the email address.
    VerifyEmail,
    /// Sets a new password.
    ResetPassword,
}

impl MailedTokenPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// The owner logged out.
    LogOut,
    /// The owner revoked it from the session list.
    RevokedByOwner,
    /// A spent refresh token of the session was presented again.
    RefreshTokenReuse,
    /// The owner changed the password (other sessions only).
    PasswordChanged,
    /// The password was reset with a mailed token.
    PasswordReset,
    /// An admin suspended the account.
    AccountSuspended,
}

impl RevokeReason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LogOut => "log_out",
            Self::RevokedByOwner => "revoked_by_owner",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::AccountSuspended => "account_suspended",
        }
    }
}

/// A session as its owner sees it in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Id of the session.
    pub id: SessionId,
    /// User agent that created it.
    pub user_agent: String,
    /// Client address that created it.
    pub client_address: String,
    /// When it was created, unix millis.
    pub create_time: i64,
    /// When it was last refreshed, unix millis.
    pub last_use_time: i64,
}

/// The account and the session an access token proves: who calls, from which session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallerSession {
    /// The caller's account.
    pub account_id: UserId,
    /// The session the access token belongs to.
    pub session_id: SessionId,
}

/// Recorded as the client address when neither the gateway nor the connection tells it.
pub const UNKNOWN_CLIENT_ADDRESS: &str = "unknown";

/// Where a log-in comes from: recorded on its session, and counted by throttling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOrigin {
    /// The client's address, or a fixed placeholder when nobody tells it.
    pub client_address: String,
    /// The network failed log-ins from the client are counted under (its IPv4 address, or
    /// its IPv6 /64), or the placeholder of `client_address`.
    pub client_network: String,
    /// The client's user agent.
    pub user_agent: String,
}

impl ClientOrigin {
    /// The client's network, unless nobody told the address: only a told network can become
    /// one an account is known to log in from, or every client without an address would
    /// pass the account ceiling once the owner did.
    pub fn told_network(&self) -> Option<&str> {
        Some(self.client_network.as_str()).filter(|network| *network != UNKNOWN_CLIENT_ADDRESS)
    }
}

/// The token pair a log-in or a refresh hands out. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedTokens {
    /// The signed access JWT.
    pub access_token: String,
    /// When the access token expires, unix millis (whole seconds, as the token says).
    pub access_token_expire_time: i64,
    /// The opaque refresh token, in clear: only its digest is stored.
    pub refresh_token: String,
    /// When the refresh token expires, unix millis.
    pub refresh_token_expire_time: i64,
}

impl fmt::Debug for IssuedTokens {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("IssuedTokens")
            .field("access_token_expire_time", &self.access_token_expire_time)
            .field("refresh_token_expire_time", &self.refresh_token_expire_time)
            .finish_non_exhaustive()
    }
}

/// A successful log-in: the account and the tokens of its new session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    /// The account that logged in.
    pub account: Account,
    /// The tokens of the new session.
    pub tokens: IssuedTokens,
}

/// One page of an account's live sessions, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPage {
    /// The sessions of the page.
    pub sessions: Vec<Session>,
    /// The session the next page starts after; `None` on the last page.
    pub next_after: Option<SessionId>,
}

/// What the store knows about a presented refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// The session (family) the token belongs to.
    pub session_id: SessionId,
    /// The owner of the session.
    pub account_id: UserId,
    /// When the token expires, unix millis.
    pub expire_time: i64,
    /// When the token was exchanged, if it was.
    pub spend_time: Option<i64>,
    /// When the session was revoked, if it was.
    pub session_revoke_time: Option<i64>,
    /// State of the owner's account.
    pub account_state: AccountState,
}

/// What to do with a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Spend it and issue a new pair in the same session.
    Rotate,
    /// It was spent before: someone replays it, so the whole session is revoked.
    RevokeFamily,
    /// Refused with the given error, nothing changes.
    Refuse(RefreshRefusal),
}

/// Why a refresh is refused without changing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRefusal {
    /// The account is suspended.
    AccountSuspended,
    /// The session was revoked.
    SessionEnded,
    /// The token expired.
    Expired,
}

/// Decides what a refresh with `record` does at `now`.
pub fn decide_refresh(record: &RefreshTokenRecord, now: i64) -> RefreshDecision {
    if record.account_state == AccountState::Suspended {
        return RefreshDecision::Refuse(RefreshRefusal::AccountSuspended);
    }
    if record.session_revoke_time.is_some() {
        return RefreshDecision::Refuse(RefreshRefusal::SessionEnded);
    }
    if record.spend_time.is_some() {
        return RefreshDecision::RevokeFamily;
    }
    if record.expire_time <= now {
        return RefreshDecision::Refuse(RefreshRefusal::Expired);
    }
    RefreshDecision::Rotate
}

/// Which failed password attempts a windowed counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleScope {
    /// Failed log-ins of one account (or one unknown log-in name) from all networks
    /// together: the ceiling against guessing spread over many networks.
    Account,
    /// Failed log-ins from one client network: an IPv4 address or an IPv6 /64.
    Address,
    /// Wrong current passwords given to ChangePassword for one account.
    PasswordChange,
}

impl ThrottleScope {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Address => "address",
            Self::PasswordChange => "password_change",
        }
    }
}

/// How many failures a window allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimit {
    /// Failures allowed in one window; the next attempt is refused.
    pub max_failures: u32,
    /// Length of the window, millis.
    pub window_millis: i64,
}

impl ThrottleLimit {
    /// A window that counts failures but never refuses an attempt: the account ceiling for
    /// a network the account logged in from, so that guessing elsewhere cannot lock the
    /// owner out while its failures still count against the others.
    pub fn counting_only(window_millis: i64) -> Self {
        Self {
            max_failures: u32::MAX,
            window_millis,
        }
    }
}

/// How failed log-ins of one account from one client network slow down the next attempt
/// from there: `free_failures` cost nothing, then each one doubles the wait, from
/// `first_delay_millis` up to `max_delay_millis`. A series whose last failure is
/// `forget_after_millis` old is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressiveDelay {
    /// Failures before any wait.
    pub free_failures: u32,
    /// Wait after the first failure beyond the free ones, millis.
    pub first_delay_millis: i64,
    /// Longest wait, millis.
    pub max_delay_millis: i64,
    /// Time without a failure after which the count starts afresh, millis.
    pub forget_after_millis: i64,
}

impl ProgressiveDelay {
    /// How long the next attempt waits after `failures` in a row, millis: none while they
    /// are free, then doubling up to the longest wait.
    pub fn after(&self, failures: i64) -> i64 {
        let beyond_free = failures.saturating_sub(i64::from(self.free_failures));
        if beyond_free < 0 {
            return 0;
        }
        let doubled = u32::try_from(beyond_free)
            .ok()
            .and_then(|doublings| 2_i64.checked_pow(doublings))
            .map_or(i64::MAX, |factor| {
                self.first_delay_millis.saturating_mul(factor)
            });
        doubled.min(self.max_delay_millis)
    }
}

/// A stored series of failed log-ins of one account from one client network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkFailures {
    /// Failures in the series.
    pub failures: i64,
    /// When the last one was counted, unix millis.
    pub last_failure_time: i64,
    /// When the next attempt is allowed, unix millis.
    pub retry_time: i64,
}

/// How long a refused attempt from a network waits at `now` for its `retry_time`; at least
/// a millisecond, so that a refusal always tells the caller to wait.
pub fn network_wait(failures: Option<NetworkFailures>, now: i64) -> Duration {
    let wait_millis = failures.map_or(0, |failures| failures.retry_time.saturating_sub(now));
    Duration::from_millis(u64::try_from(wait_millis).unwrap_or(0).max(1))
}

/// A stored failure counter: failures since `window_start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCount {
    /// Start of the counting window, unix millis.
    pub window_start: i64,
    /// Failures counted in the window.
    pub failures: i64,
}

/// How long a refused attempt waits at `now` until its window ends; at least a millisecond,
/// so that a refusal always tells the caller to wait.
pub fn throttle_wait(count: Option<FailureCount>, limit: ThrottleLimit, now: i64) -> Duration {
    check_throttle(count, limit, now)
        .err()
        .unwrap_or(Duration::from_millis(1))
}

/// Whether another attempt is allowed at `now`; when not, how long until it is.
pub fn check_throttle(
    count: Option<FailureCount>,
    limit: ThrottleLimit,
    now: i64,
) -> Result<(), Duration> {
    let Some(count) = count else {
        return Ok(());
    };
    let window_end = count.window_start.saturating_add(limit.window_millis);
    if window_end <= now || count.failures < i64::from(limit.max_failures) {
        return Ok(());
    }
    let wait_millis = u64::try_from(window_end - now).unwrap_or(0);
    Err(Duration::from_millis(wait_millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rules() {
        for good in ["ada", "Ada_Lovelace-1", "a23", "z".repeat(30).as_str()] {
            assert!(Username::parse("username", good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "ab",
            "1ada",
            "_ada",
            "ada lovelace",
            "adé",
            "ada!",
            &"a".repeat(31),
            &"a".repeat(10_000),
        ] {
            assert!(Username::parse("username", bad).is_err(), "{bad:?}");
        }
        assert_eq!(Username::parse("username", "AdA").unwrap().key(), "ada");
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_and_accepted_usernames_follow_the_rules(raw in "\\PC{0,80}|[A-Za-z0-9_-]{0,40}") {
            if let Ok(username) = Username::parse("username", &raw) {
                let name = username.as_str();
                proptest::prop_assert!((USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&name.len()));
                proptest::prop_assert!(name.starts_with(|c: char| c.is_ascii_alphabetic()));
                proptest::prop_assert_eq!(username.key(), name.to_ascii_lowercase());
            }
            let _ = LoginName::parse("login", &raw);
            let _ = Password::parse_new("password", raw.clone());
            let _ = Password::parse_presented("password", raw);
        }
    }

    #[test]
    fn passwords_have_bounded_length() {
        assert!(Password::parse_new("password", "x".into()).is_err());
        assert!(Password::parse_new("password", "".into()).is_err());
        assert!(Password::parse_new("password", "x".repeat(10)).is_ok());
        assert!(Password::parse_new("password", "é".repeat(128)).is_ok());
        assert!(Password::parse_new("password", "x".repeat(129)).is_err());
        assert!(Password::parse_presented("password", "x".into()).is_ok());
        assert!(Password::parse_presented("password", "x".repeat(200)).is_err());
        let printed = format!(
            "{:?}",
            Password::parse_new("password", "secret-secret".into())
        );
        assert!(!printed.contains("secret-secret"));
    }

    #[test]
    fn login_names_are_emails_or_usernames() {
        assert_eq!(
            LoginName::parse("login", " Ada@Example.com ").unwrap(),
            LoginName::Email("ada@example.com".into())
        );
        assert_eq!(
            LoginName::parse("login", "AdaL").unwrap(),
            LoginName::Username("adal".into())
        );
        assert!(LoginName::parse("login", "").is_err());
        assert!(LoginName::parse("login", &"a".repeat(255)).is_err());
    }

    fn account(state: AccountState, email_verified: bool) -> Account {
        Account {
            id: UserId::new(),
            email: "ada@example.com".into(),
            username: "ada".into(),
            email_verified,
            roles: vec![Role::Buyer],
            state,
            create_time: 0,
        }
    }

    #[test]
    fn role_sets_are_ordered_without_duplicates() {
        assert_eq!(
            role_set([Role::Admin, Role::Buyer, Role::Admin, Role::Seller]),
            Role::ALL
        );
        assert!(role_set([]).is_empty());
    }

    #[test]
    fn log_in_needs_an_active_verified_account() {
        assert!(admit_log_in(&account(AccountState::Active, true)).is_ok());
        assert!(matches!(
            admit_log_in(&account(AccountState::Active, false)),
            Err(AuthError::EmailNotVerified)
        ));
        assert!(matches!(
            admit_log_in(&account(AccountState::Suspended, false)),
            Err(AuthError::AccountSuspended)
        ));
    }

    fn record() -> RefreshTokenRecord {
        RefreshTokenRecord {
            session_id: SessionId::new(),
            account_id: UserId::new(),
            expire_time: 1_000,
            spend_time: None,
            session_revoke_time: None,
            account_state: AccountState::Active,
        }
    }

    #[test]
    fn refresh_rotates_fresh_tokens_and_revokes_replayed_ones() {
        assert_eq!(decide_refresh(&record(), 500), RefreshDecision::Rotate);
        assert_eq!(
            decide_refresh(&record(), 1_000),
            RefreshDecision::Refuse(RefreshRefusal::Expired)
        );
        let spent = RefreshTokenRecord {
            spend_time: Some(400),
            ..record()
        };
        assert_eq!(decide_refresh(&spent, 500), RefreshDecision::RevokeFamily);
        let revoked = RefreshTokenRecord {
            spend_time: Some(400),
            session_revoke_time: Some(450),
            ..record()
        };
        assert_eq!(
            decide_refresh(&revoked, 500),
            RefreshDecision::Refuse(RefreshRefusal::SessionEnded)
        );
        let suspended = RefreshTokenRecord {
            account_state: AccountState::Suspended,
            ..record()
        };
        assert_eq!(
            decide_refresh(&suspended, 500),
            RefreshDecision::Refuse(RefreshRefusal::AccountSuspended)
        );
    }

    #[test]
    fn throttle_blocks_until_the_window_ends() {
        let limit = ThrottleLimit {
            max_failures: 3,
            window_millis: 1_000,
        };
        assert!(check_throttle(None, limit, 0).is_ok());
        let two = FailureCount {
            window_start: 100,
            failures: 2,
        };
        assert!(check_throttle(Some(two), limit, 200).is_ok());
        let three = FailureCount { failures: 3, ..two };
        assert_eq!(
            check_throttle(Some(three), limit, 400),
            Err(Duration::from_millis(700))
        );
        assert!(check_throttle(Some(three), limit, 1_100).is_ok());
    }

    #[test]
    fn only_a_told_network_can_become_known() {
        let origin = |network: &str| ClientOrigin {
            client_address: network.to_owned(),
            client_network: network.to_owned(),
            user_agent: "browser".to_owned(),
        };
        assert_eq!(origin("192.0.2.1").told_network(), Some("192.0.2.1"));
        assert_eq!(origin(UNKNOWN_CLIENT_ADDRESS).told_network(), None);
    }

    #[test]
    fn waits_double_after_the_free_failures_up_to_the_longest() {
        let delay = ProgressiveDelay {
            free_failures: 3,
            first_delay_millis: 1_000,
            max_delay_millis: 60_000,
            forget_after_millis: 900_000,
        };
        let waits: Vec<i64> = (0..=10).map(|failures| delay.after(failures)).collect();
        assert_eq!(
            waits,
            [
                0, 0, 0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000
            ]
        );
        assert_eq!(delay.after(-1), 0);
        assert_eq!(delay.after(i64::MAX), 60_000);
        assert_eq!(delay.after(3 + 63), 60_000);
    }

    #[test]
    fn a_refused_network_attempt_always_waits() {
        let failures = NetworkFailures {
            failures: 4,
            last_failure_time: 1_000,
            retry_time: 3_000,
        };
        assert_eq!(
            network_wait(Some(failures), 2_500),
            Duration::from_millis(500)
        );
        assert_eq!(
            network_wait(Some(failures), 3_500),
            Duration::from_millis(1)
        );
        assert_eq!(network_wait(None, 2_500), Duration::from_millis(1));
    }

    #[test]
    fn a_refused_attempt_always_waits() {
        let limit = ThrottleLimit {
            max_failures: 3,
            window_millis: 1_000,
        };
        let three = FailureCount {
            window_start: 100,
            failures: 3,
        };
        assert_eq!(
            throttle_wait(Some(three), limit, 400),
            Duration::from_millis(700)
        );
        // A counter gone or over by the time the refusal is explained still says wait.
        assert_eq!(throttle_wait(None, limit, 400), Duration::from_millis(1));
        assert_eq!(
            throttle_wait(Some(three), limit, 1_100),
            Duration::from_millis(1)
        );
    }
}
