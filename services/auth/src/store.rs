//! The auth database: accounts and roles, mailed tokens and the mail cooldown, sessions and
//! refresh tokens, signing keys, failed log-in counters and the networks accounts logged in
//! from. Portable SQL that runs on
//! SQLite and PostgreSQL through `sqlx::Any`; every function takes a connection (usually a
//! transaction's) and knows nothing of gRPC.

use std::str::FromStr;

use gigmesh_auth::Role;
use gigmesh_db::{DbError, get_bool};
use gigmesh_types::{SessionId, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tracing::instrument;
use uuid::Uuid;

use crate::domain::{
    Account, AccountState, FailureCount, MailedTokenPurpose, NetworkFailures, RefreshTokenRecord,
    RevokeReason, Session, ThrottleLimit, ThrottleScope, Username,
};

/// A value read from the database that does not parse; the store was written by something
/// else than this code.
fn corrupt(what: &str, value: &str) -> DbError {
    DbError::from(sqlx::Error::Decode(
        format!("stored {what} {value:?} is not valid").into(),
    ))
}

fn parse_id<T: From<Uuid>>(what: &str, raw: &str) -> Result<T, DbError> {
    Uuid::from_str(raw)
        .map(T::from)
        .map_err(|_| corrupt(what, raw))
}

fn parse_state(raw: &str) -> Result<AccountState, DbError> {
    AccountState::from_str(raw).map_err(|_| corrupt("account state", raw))
}

/// An account and its password hash, for the calls that check a password.
#[derive(Debug, Clone)]
pub struct AccountWithHash {
    /// The account.
    pub account: Account,
    /// Its argon2id PHC string.
    pub password_hash: String,
}

/// A new account to insert.
#[derive(Debug)]
pub struct NewAccount<'a> {
    /// Its id.
    pub id: UserId,
    /// Normalised email address.
    pub email: &'a str,
    /// Username.
    pub username: &'a Username,
    /// Argon2id PHC string.
    pub password_hash: &'a str,
    /// Whether the address counts as verified already (seeded accounts).
    pub email_verified: bool,
    /// Roles to grant.
    pub roles: &'a [Role],
    /// Creation time, unix millis.
    pub now: i64,
}

const ACCOUNT_COLUMNS: &str =
    "id, email, username, email_verified, state, create_time, password_hash";

/// Inserts an account and its roles. A taken email address or username surfaces as
/// [`DbError::UniqueViolation`].
#[instrument(skip_all, fields(account_id = %new.id))]
pub async fn insert_account(conn: &mut AnyConnection, new: &NewAccount<'_>) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO accounts (id, email, username, username_key, password_hash, email_verified, \
         state, suspension_reason, create_time, update_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $8)",
    )
    .bind(new.id.to_string())
    .bind(new.email)
    .bind(new.username.as_str())
    .bind(new.username.key())
    .bind(new.password_hash)
    .bind(new.email_verified)
    .bind(AccountState::Active.as_str())
    .bind(new.now)
    .execute(&mut *conn)
    .await?;
    for role in new.roles {
        grant_role(conn, new.id, *role, new.now).await?;
    }
    Ok(())
}

/// A unique key accounts are looked up by.
#[derive(Debug, Clone, Copy)]
enum AccountKey {
    Id,
    Email,
    UsernameKey,
}

impl AccountKey {
    fn column(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Email => "email",
            Self::UsernameKey => "username_key",
        }
    }
}

/// Whether an account has `value` as its `key`.
async fn account_exists(
    conn: &mut AnyConnection,
    key: AccountKey,
    value: &str,
) -> Result<bool, DbError> {
    let query = format!("SELECT id FROM accounts WHERE {} = $1", key.column());
    let row = sqlx::query(&query)
        .bind(value)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

/// The account that has `value` as its `key`, with its roles and password hash.
async fn find_account_by(
    conn: &mut AnyConnection,
    key: AccountKey,
    value: &str,
) -> Result<Option<AccountWithHash>, DbError> {
    let query = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE {} = $1",
        key.column()
    );
    let row = sqlx::query(&query)
        .bind(value)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(Some(account_from_row(conn, row).await?)),
        None => Ok(None),
    }
}

/// Whether an account uses `email`.
#[instrument(skip_all)]
pub async fn email_is_taken(conn: &mut AnyConnection, email: &str) -> Result<bool, DbError> {
    account_exists(conn, AccountKey::Email, email).await
}

/// Whether an account uses `username` in any letter case.
#[instrument(skip_all)]
pub async fn username_is_taken(
    conn: &mut AnyConnection,
    username: &Username,
) -> Result<bool, DbError> {
    account_exists(conn, AccountKey::UsernameKey, &username.key()).await
}

async fn roles_of(conn: &mut AnyConnection, account_id: &str) -> Result<Vec<Role>, DbError> {
    let rows = sqlx::query("SELECT role FROM account_roles WHERE account_id = $1")
        .bind(account_id)
        .fetch_all(&mut *conn)
        .await?;
    let mut roles = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.try_get("role")?;
        roles.push(Role::from_str(&name).map_err(|_| corrupt("role", &name))?);
    }
    roles.sort();
    Ok(roles)
}

async fn account_from_row(
    conn: &mut AnyConnection,
    row: AnyRow,
) -> Result<AccountWithHash, DbError> {
    let id: String = row.try_get("id")?;
    let state: String = row.try_get("state")?;
    let roles = roles_of(conn, &id).await?;
    let account = Account {
        id: parse_id("account id", &id)?,
        email: row.try_get("email")?,
        username: row.try_get("username")?,
        email_verified: get_bool(&row, "email_verified")?,
        roles,
        state: parse_state(&state)?,
        create_time: row.try_get("create_time")?,
    };
    Ok(AccountWithHash {
        account,
        password_hash: row.try_get("password_hash")?,
    })
}

/// The account with `id`.
#[instrument(skip_all, fields(account_id = %id))]
pub async fn find_account(
    conn: &mut AnyConnection,
    id: UserId,
) -> Result<Option<AccountWithHash>, DbError> {
    find_account_by(conn, AccountKey::Id, &id.to_string()).await
}

/// The account with the normalised `email`.
#[instrument(skip_all)]
pub async fn find_account_by_email(
    conn: &mut AnyConnection,
    email: &str,
) -> Result<Option<AccountWithHash>, DbError> {
    find_account_by(conn, AccountKey::Email, email).await
}

/// The account whose lower-cased username is `username_key`.
#[instrument(skip_all)]
pub async fn find_account_by_username(
    conn: &mut AnyConnection,
    username_key: &str,
) -> Result<Option<AccountWithHash>, DbError> {
    find_account_by(conn, AccountKey::UsernameKey, username_key).await
}

/// Grants `role`; returns whether the account did not hold it before.
#[instrument(skip_all, fields(account_id = %account_id, role = %role))]
pub async fn grant_role(
    conn: &mut AnyConnection,
    account_id: UserId,
    role: Role,
    now: i64,
) -> Result<bool, DbError> {
    let result = sqlx::query(
        "INSERT INTO account_roles (account_id, role, grant_time) VALUES ($1, $2, $3) \
         ON CONFLICT (account_id, role) DO NOTHING",
    )
    .bind(account_id.to_string())
    .bind(role.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Marks the email address verified; returns whether it was not before.
#[instrument(skip_all, fields(account_id = %account_id))]
pub async fn mark_email_verified(
    conn: &mut AnyConnection,
    account_id: UserId,
    now: i64,
) -> Result<bool, DbError> {
    let result = sqlx::query(
        "UPDATE accounts SET email_verified = $2, update_time = $3 \
         WHERE id = $1 AND email_verified = $4",
    )
    .bind(account_id.to_string())
    .bind(true)
    .bind(now)
    .bind(false)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Replaces the password hash.
#[instrument(skip_all, fields(account_id = %account_id))]
pub async fn set_password_hash(
    conn: &mut AnyConnection,
    account_id: UserId,
    password_hash: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query("UPDATE accounts SET password_hash = $2, update_time = $3 WHERE id = $1")
        .bind(account_id.to_string())
        .bind(password_hash)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Moves the account to `state` (with the suspension reason, if any); returns whether it was
/// in another state before.
#[instrument(skip_all, fields(account_id = %account_id, state = state.as_str()))]
pub async fn set_account_state(
    conn: &mut AnyConnection,
    account_id: UserId,
    state: AccountState,
    suspension_reason: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    let result = sqlx::query(
        "UPDATE accounts SET state = $2, suspension_reason = $3, update_time = $4 \
         WHERE id = $1 AND state <> $2",
    )
    .bind(account_id.to_string())
    .bind(state.as_str())
    .bind(suspension_reason)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Stores the digest of a new mailed token.
#[instrument(skip_all, fields(account_id = %account_id, purpose = purpose.as_str()))]
pub async fn insert_mailed_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    account_id: UserId,
    purpose: MailedTokenPurpose,
    now: i64,
    expire_time: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO mailed_tokens (token_hash, account_id, purpose, create_time, expire_time, \
         spend_time) VALUES ($1, $2, $3, $4, $5, NULL)",
    )
    .bind(token_hash)
    .bind(account_id.to_string())
    .bind(purpose.as_str())
    .bind(now)
    .bind(expire_time)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Spends every unspent token of the account for `purpose`, so only a newer one works.
#[instrument(skip_all, fields(account_id = %account_id, purpose = purpose.as_str()))]
pub async fn spend_mailed_tokens_of(
    conn: &mut AnyConnection,
    account_id: UserId,
    purpose: MailedTokenPurpose,
    now: i64,
) -> Result<u64, DbError> {
    let result = sqlx::query(
        "UPDATE mailed_tokens SET spend_time = $3 \
         WHERE account_id = $1 AND purpose = $2 AND spend_time IS NULL",
    )
    .bind(account_id.to_string())
    .bind(purpose.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected())
}

/// Records a mail of `purpose` to the account at `now`, unless one was recorded after
/// `cooldown_start`; returns whether it was recorded, and so whether the mail may be sent.
/// One conditional upsert, so of concurrent requests on several replicas only one records it.
#[instrument(skip_all, fields(account_id = %account_id, purpose = purpose.as_str()))]
pub async fn record_mail_request(
    conn: &mut AnyConnection,
    account_id: UserId,
    purpose: MailedTokenPurpose,
    now: i64,
    cooldown_start: i64,
) -> Result<bool, DbError> {
    let row = sqlx::query(
        "INSERT INTO mail_requests (account_id, purpose, last_mail_time) VALUES ($1, $2, $3) \
         ON CONFLICT (account_id, purpose) DO UPDATE SET last_mail_time = $3 \
         WHERE mail_requests.last_mail_time <= $4 \
         RETURNING last_mail_time",
    )
    .bind(account_id.to_string())
    .bind(purpose.as_str())
    .bind(now)
    .bind(cooldown_start)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

/// Whether the token with `token_hash` is unspent, unexpired and for `purpose`.
#[instrument(skip_all, fields(purpose = purpose.as_str()))]
pub async fn mailed_token_is_usable(
    conn: &mut AnyConnection,
    token_hash: &str,
    purpose: MailedTokenPurpose,
    now: i64,
) -> Result<bool, DbError> {
    let row = sqlx::query(
        "SELECT account_id FROM mailed_tokens \
         WHERE token_hash = $1 AND purpose = $2 AND spend_time IS NULL AND expire_time > $3",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

/// Spends the token with `token_hash` if it is unspent, unexpired and for `purpose`; returns
/// its account. Concurrent attempts with the same token cannot both succeed.
#[instrument(skip_all, fields(purpose = purpose.as_str()))]
pub async fn spend_mailed_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    purpose: MailedTokenPurpose,
    now: i64,
) -> Result<Option<UserId>, DbError> {
    let row = sqlx::query(
        "UPDATE mailed_tokens SET spend_time = $3 \
         WHERE token_hash = $1 AND purpose = $2 AND spend_time IS NULL AND expire_time > $3 \
         RETURNING account_id",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => {
            let account_id: String = row.try_get("account_id")?;
            Ok(Some(parse_id("account id", &account_id)?))
        }
        None => Ok(None),
    }
}

/// A new session and where it came from.
#[derive(Debug)]
pub struct NewSession<'a> {
    /// Its id.
    pub id: SessionId,
    /// Its owner.
    pub account_id: UserId,
    /// User agent of the log-in.
    pub user_agent: &'a str,
    /// Client address of the log-in.
    pub client_address: &'a str,
    /// Creation time, unix millis.
    pub now: i64,
    /// Expiry of its first refresh token, unix millis.
    pub expire_time: i64,
}

/// Inserts a session.
#[instrument(skip_all, fields(session_id = %new.id, account_id = %new.account_id))]
pub async fn insert_session(conn: &mut AnyConnection, new: &NewSession<'_>) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO sessions (id, account_id, user_agent, client_address, create_time, \
         last_use_time, expire_time, revoke_time, revoke_reason) \
         VALUES ($1, $2, $3, $4, $5, $5, $6, NULL, NULL)",
    )
    .bind(new.id.to_string())
    .bind(new.account_id.to_string())
    .bind(new.user_agent)
    .bind(new.client_address)
    .bind(new.now)
    .bind(new.expire_time)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Stores the digest of a new refresh token of `session_id`.
#[instrument(skip_all, fields(session_id = %session_id))]
pub async fn insert_refresh_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    session_id: SessionId,
    now: i64,
    expire_time: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, issue_time, expire_time, spend_time) \
         VALUES ($1, $2, $3, $4, NULL)",
    )
    .bind(token_hash)
    .bind(session_id.to_string())
    .bind(now)
    .bind(expire_time)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What is known about the refresh token with `token_hash`, its session and its account.
#[instrument(skip_all)]
pub async fn find_refresh_token(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<RefreshTokenRecord>, DbError> {
    let row = sqlx::query(
        "SELECT r.session_id, s.account_id, r.expire_time, r.spend_time, \
         s.revoke_time AS session_revoke_time, a.state AS account_state \
         FROM refresh_tokens r \
         JOIN sessions s ON s.id = r.session_id \
         JOIN accounts a ON a.id = s.account_id \
         WHERE r.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let session_id: String = row.try_get("session_id")?;
    let account_id: String = row.try_get("account_id")?;
    let account_state: String = row.try_get("account_state")?;
    Ok(Some(RefreshTokenRecord {
        session_id: parse_id("session id", &session_id)?,
        account_id: parse_id("account id", &account_id)?,
        expire_time: row.try_get("expire_time")?,
        spend_time: row.try_get("spend_time")?,
        session_revoke_time: row.try_get("session_revoke_time")?,
        account_state: parse_state(&account_state)?,
    }))
}

/// Spends the refresh token if it is unspent; returns whether this call spent it.
#[instrument(skip_all)]
pub async fn spend_refresh_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<bool, DbError> {
    let result = sqlx::query(
        "UPDATE refresh_tokens SET spend_time = $2 WHERE token_hash = $1 AND spend_time IS NULL",
    )
    .bind(token_hash)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Records a refresh of the session: last use now, expiry of its newest refresh token.
#[instrument(skip_all, fields(session_id = %session_id))]
pub async fn touch_session(
    conn: &mut AnyConnection,
    session_id: SessionId,
    now: i64,
    expire_time: i64,
) -> Result<(), DbError> {
    sqlx::query("UPDATE sessions SET last_use_time = $2, expire_time = $3 WHERE id = $1")
        .bind(session_id.to_string())
        .bind(now)
        .bind(expire_time)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Revokes one session of `account_id`; returns whether it was live before.
#[instrument(skip_all, fields(session_id = %session_id, reason = reason.as_str()))]
pub async fn revoke_session(
    conn: &mut AnyConnection,
    account_id: UserId,
    session_id: SessionId,
    reason: RevokeReason,
    now: i64,
) -> Result<bool, DbError> {
    let result = sqlx::query(
        "UPDATE sessions SET revoke_time = $3, revoke_reason = $4 \
         WHERE id = $1 AND account_id = $2 AND revoke_time IS NULL",
    )
    .bind(session_id.to_string())
    .bind(account_id.to_string())
    .bind(now)
    .bind(reason.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Revokes every live session of the account except `keep`; returns the ones it ended.
#[instrument(skip_all, fields(account_id = %account_id, reason = reason.as_str()))]
pub async fn revoke_sessions_of(
    conn: &mut AnyConnection,
    account_id: UserId,
    keep: Option<SessionId>,
    reason: RevokeReason,
    now: i64,
) -> Result<Vec<SessionId>, DbError> {
    // A session id that cannot exist keeps nothing.
    let keep = keep.map(|id| id.to_string()).unwrap_or_default();
    let rows = sqlx::query(
        "UPDATE sessions SET revoke_time = $2, revoke_reason = $3 \
         WHERE account_id = $1 AND revoke_time IS NULL AND id <> $4 RETURNING id",
    )
    .bind(account_id.to_string())
    .bind(now)
    .bind(reason.as_str())
    .bind(keep)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| parse_id("session id", &row.try_get::<String, _>("id")?))
        .collect()
}

/// Whether a session of the account has this id, and whether it is live at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// No session of the account has this id.
    Unknown,
    /// Not revoked and not expired.
    Live,
    /// Revoked or expired.
    Ended,
}

/// The status of the account's session `session_id` at `now`.
#[instrument(skip_all, fields(session_id = %session_id))]
pub async fn session_status(
    conn: &mut AnyConnection,
    account_id: UserId,
    session_id: SessionId,
    now: i64,
) -> Result<SessionStatus, DbError> {
    let row = sqlx::query(
        "SELECT revoke_time, expire_time FROM sessions WHERE id = $1 AND account_id = $2",
    )
    .bind(session_id.to_string())
    .bind(account_id.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(SessionStatus::Unknown);
    };
    let revoke_time: Option<i64> = row.try_get("revoke_time")?;
    let expire_time: i64 = row.try_get("expire_time")?;
    if revoke_time.is_none() && expire_time > now {
        Ok(SessionStatus::Live)
    } else {
        Ok(SessionStatus::Ended)
    }
}

/// Up to `limit` live sessions of the account, newest first, after the session `after`.
#[instrument(skip_all, fields(account_id = %account_id, limit))]
pub async fn list_live_sessions(
    conn: &mut AnyConnection,
    account_id: UserId,
    now: i64,
    after: Option<SessionId>,
    limit: u32,
) -> Result<Vec<Session>, DbError> {
    // Session ids are UUIDv7 strings, so their order is their creation order. "~" sorts after
    // every id, so the first page starts at the newest session.
    let after = after
        .map(|id| id.to_string())
        .unwrap_or_else(|| "~".to_owned());
    let rows = sqlx::query(
        "SELECT id, user_agent, client_address, create_time, last_use_time FROM sessions \
         WHERE account_id = $1 AND revoke_time IS NULL AND expire_time > $2 AND id < $3 \
         ORDER BY id DESC LIMIT $4",
    )
    .bind(account_id.to_string())
    .bind(now)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            Ok(Session {
                id: parse_id("session id", &id)?,
                user_agent: row.try_get("user_agent")?,
                client_address: row.try_get("client_address")?,
                create_time: row.try_get("create_time")?,
                last_use_time: row.try_get("last_use_time")?,
            })
        })
        .collect()
}

/// A signing key as stored.
#[derive(Clone)]
pub struct StoredSigningKey {
    /// Key id, the `kid` of the tokens it signs.
    pub kid: String,
    /// The Ed25519 private key, PKCS#8 DER.
    pub private_key_der: Vec<u8>,
    /// When it was created, unix millis.
    pub create_time: i64,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("create_time", &self.create_time)
            .finish_non_exhaustive()
    }
}

/// Stores a new signing key.
#[instrument(skip_all, fields(kid))]
pub async fn insert_signing_key(
    conn: &mut AnyConnection,
    kid: &str,
    private_key_der: &[u8],
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, private_key_der, create_time, retire_time) \
         VALUES ($1, $2, $3, NULL)",
    )
    .bind(kid)
    .bind(private_key_der.to_vec())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every signing key that is not retired, newest first.
#[instrument(skip_all)]
pub async fn unretired_signing_keys(
    conn: &mut AnyConnection,
) -> Result<Vec<StoredSigningKey>, DbError> {
    let rows = sqlx::query(
        "SELECT kid, private_key_der, create_time FROM signing_keys \
         WHERE retire_time IS NULL ORDER BY create_time DESC, kid DESC",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(StoredSigningKey {
                kid: row.try_get("kid")?,
                private_key_der: row.try_get("private_key_der")?,
                create_time: row.try_get("create_time")?,
            })
        })
        .collect()
}

/// The failed-attempt counter of `subject` in `scope`.
#[instrument(skip_all, fields(scope = scope.as_str()))]
pub async fn failure_count(
    conn: &mut AnyConnection,
    scope: ThrottleScope,
    subject: &str,
) -> Result<Option<FailureCount>, DbError> {
    let row = sqlx::query(
        "SELECT window_start, failures FROM login_failures WHERE scope = $1 AND subject = $2",
    )
    .bind(scope.as_str())
    .bind(subject)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => Ok(Some(FailureCount {
            window_start: row.try_get("window_start")?,
            failures: row.try_get("failures")?,
        })),
        None => Ok(None),
    }
}

/// Counts one attempt of `subject` as failed before it is checked, starting a new window
/// when the last one is over, unless the window already holds `max_failures`; returns the
/// start of the window it was counted in, or `None` when it was refused. One conditional
/// upsert, so concurrent attempts on several replicas can never pass the limit together.
#[instrument(skip_all, fields(scope = scope.as_str()))]
pub async fn reserve_attempt(
    conn: &mut AnyConnection,
    scope: ThrottleScope,
    subject: &str,
    now: i64,
    limit: ThrottleLimit,
) -> Result<Option<i64>, DbError> {
    let row = sqlx::query(
        "INSERT INTO login_failures (scope, subject, window_start, failures) \
         VALUES ($1, $2, $3, 1) \
         ON CONFLICT (scope, subject) DO UPDATE SET \
         failures = CASE WHEN login_failures.window_start <= $4 THEN 1 \
                         ELSE login_failures.failures + 1 END, \
         window_start = CASE WHEN login_failures.window_start <= $4 THEN $3 \
                             ELSE login_failures.window_start END \
         WHERE login_failures.window_start <= $4 OR login_failures.failures < $5 \
         RETURNING window_start",
    )
    .bind(scope.as_str())
    .bind(subject)
    .bind(now)
    .bind(now.saturating_sub(limit.window_millis))
    .bind(i64::from(limit.max_failures))
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => Ok(Some(row.try_get("window_start")?)),
        None => Ok(None),
    }
}

/// Takes back an attempt [`reserve_attempt`] counted in the window that started at
/// `window_start`; an attempt of a window that is over is not taken back from the next.
#[instrument(skip_all, fields(scope = scope.as_str()))]
pub async fn release_attempt(
    conn: &mut AnyConnection,
    scope: ThrottleScope,
    subject: &str,
    window_start: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE login_failures SET failures = failures - 1 \
         WHERE scope = $1 AND subject = $2 AND window_start = $3 AND failures > 0",
    )
    .bind(scope.as_str())
    .bind(subject)
    .bind(window_start)
    .execute(&mut *conn)
    .await?;
    // A counter with nothing left in it is no counter: the next failure starts a window.
    sqlx::query("DELETE FROM login_failures WHERE scope = $1 AND subject = $2 AND failures <= 0")
        .bind(scope.as_str())
        .bind(subject)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Forgets the failed log-ins of `subject`.
#[instrument(skip_all, fields(scope = scope.as_str()))]
pub async fn clear_failures(
    conn: &mut AnyConnection,
    scope: ThrottleScope,
    subject: &str,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM login_failures WHERE scope = $1 AND subject = $2")
        .bind(scope.as_str())
        .bind(subject)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The series of failed log-ins of `subject` from `network`.
#[instrument(skip_all)]
pub async fn network_failures(
    conn: &mut AnyConnection,
    subject: &str,
    network: &str,
) -> Result<Option<NetworkFailures>, DbError> {
    let row = sqlx::query(
        "SELECT failures, last_failure_time, retry_time FROM login_network_failures \
         WHERE subject = $1 AND network = $2",
    )
    .bind(subject)
    .bind(network)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => Ok(Some(NetworkFailures {
            failures: row.try_get("failures")?,
            last_failure_time: row.try_get("last_failure_time")?,
            retry_time: row.try_get("retry_time")?,
        })),
        None => Ok(None),
    }
}

/// Counts one attempt of `subject` from `network` as failed before it is checked, unless
/// its series holds `free_failures` or more and its `retry_time` is still ahead at `now`; a
/// series whose last failure was at or before `forget_before` starts afresh. (Free failures
/// are told by their count, not by time: a concurrent attempt may have read the clock a
/// moment before the one counted ahead of it.) Returns the failures of the series with this one,
/// or `None` when the attempt was refused. One conditional upsert, so of concurrent
/// attempts on several replicas only those the wait allows are counted; the caller sets
/// the next `retry_time` in the same transaction ([`set_network_retry_time`]), which holds
/// the row until it commits.
#[instrument(skip_all)]
pub async fn reserve_network_attempt(
    conn: &mut AnyConnection,
    subject: &str,
    network: &str,
    now: i64,
    forget_before: i64,
    free_failures: u32,
) -> Result<Option<i64>, DbError> {
    let row = sqlx::query(
        "INSERT INTO login_network_failures \
         (subject, network, failures, last_failure_time, retry_time) \
         VALUES ($1, $2, 1, $3, $3) \
         ON CONFLICT (subject, network) DO UPDATE SET \
         failures = CASE WHEN login_network_failures.last_failure_time <= $4 THEN 1 \
                         ELSE login_network_failures.failures + 1 END, \
         last_failure_time = $3 \
         WHERE login_network_failures.last_failure_time <= $4 \
            OR login_network_failures.failures < $5 \
            OR login_network_failures.retry_time <= $3 \
         RETURNING failures",
    )
    .bind(subject)
    .bind(network)
    .bind(now)
    .bind(forget_before)
    .bind(i64::from(free_failures))
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => Ok(Some(row.try_get("failures")?)),
        None => Ok(None),
    }
}

/// Sets when the next attempt of `subject` from `network` is allowed.
#[instrument(skip_all)]
pub async fn set_network_retry_time(
    conn: &mut AnyConnection,
    subject: &str,
    network: &str,
    retry_time: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE login_network_failures SET retry_time = $3 WHERE subject = $1 AND network = $2",
    )
    .bind(subject)
    .bind(network)
    .bind(retry_time)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Takes back an attempt [`reserve_network_attempt`] counted at `reserve_time`, which set
/// `retry_time`. Unless another attempt was counted since (and set a retry time of its
/// own), the wait it set goes too: the attempt was allowed at `reserve_time`.
#[instrument(skip_all)]
pub async fn release_network_attempt(
    conn: &mut AnyConnection,
    subject: &str,
    network: &str,
    reserve_time: i64,
    retry_time: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE login_network_failures SET failures = failures - 1, \
         retry_time = CASE WHEN retry_time = $4 THEN $3 ELSE retry_time END \
         WHERE subject = $1 AND network = $2 AND failures > 0",
    )
    .bind(subject)
    .bind(network)
    .bind(reserve_time)
    .bind(retry_time)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM login_network_failures \
         WHERE subject = $1 AND network = $2 AND failures <= 0",
    )
    .bind(subject)
    .bind(network)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Forgets the failed log-ins of `subject` from `network`, or from every network.
#[instrument(skip_all)]
pub async fn clear_network_failures(
    conn: &mut AnyConnection,
    subject: &str,
    network: Option<&str>,
) -> Result<(), DbError> {
    match network {
        Some(network) => {
            sqlx::query("DELETE FROM login_network_failures WHERE subject = $1 AND network = $2")
                .bind(subject)
                .bind(network)
                .execute(&mut *conn)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM login_network_failures WHERE subject = $1")
                .bind(subject)
                .execute(&mut *conn)
                .await?
        }
    };
    Ok(())
}

/// Remembers that the account proved its password from `network` at `now`.
#[instrument(skip_all, fields(account_id = %account_id))]
pub async fn remember_login_network(
    conn: &mut AnyConnection,
    account_id: UserId,
    network: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO login_networks (account_id, network, last_success_time) \
         VALUES ($1, $2, $3) \
         ON CONFLICT (account_id, network) DO UPDATE SET last_success_time = $3 \
         WHERE login_networks.last_success_time < $3",
    )
    .bind(account_id.to_string())
    .bind(network)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether the account proved its password from `network` after `since`.
#[instrument(skip_all, fields(account_id = %account_id))]
pub async fn is_known_login_network(
    conn: &mut AnyConnection,
    account_id: UserId,
    network: &str,
    since: i64,
) -> Result<bool, DbError> {
    let row = sqlx::query(
        "SELECT last_success_time FROM login_networks \
         WHERE account_id = $1 AND network = $2 AND last_success_time > $3",
    )
    .bind(account_id.to_string())
    .bind(network)
    .bind(since)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

#[cfg(test)]
mod tests {
    use gigmesh_testing::{Backend, TestDatabase};

    use super::*;

    gigmesh_testing::on_sqlite_and_postgres!(
        free_failures_are_told_by_their_count_not_by_the_clock,
        a_series_waits_until_its_retry_time,
    );

    async fn migrated(backend: Backend) -> TestDatabase {
        let database = TestDatabase::new(backend).await;
        database
            .db()
            .migrate(&[&crate::app::MIGRATIONS])
            .await
            .expect("migrate");
        database
    }

    /// Reserves an attempt of ada from 192.0.2.1 at `now`, 3 failures free, a window of
    /// 900 s; sets the retry time `wait` after `now` when counted.
    async fn reserve(conn: &mut AnyConnection, now: i64, wait: i64) -> Option<i64> {
        let failures = reserve_network_attempt(conn, "ada", "192.0.2.1", now, now - 900_000, 3)
            .await
            .expect("reserve");
        if failures.is_some() {
            set_network_retry_time(conn, "ada", "192.0.2.1", now + wait)
                .await
                .expect("set the retry time");
        }
        failures
    }

    async fn free_failures_are_told_by_their_count_not_by_the_clock(backend: Backend) {
        let database = migrated(backend).await;
        let mut conn = database.db().pool().acquire().await.expect("connection");
        assert_eq!(reserve(&mut conn, 10_000, 0).await, Some(1));
        // A concurrent attempt that read the clock a moment earlier is still free.
        assert_eq!(reserve(&mut conn, 9_990, 0).await, Some(2));
        assert_eq!(reserve(&mut conn, 9_995, 1_000).await, Some(3));
        assert_eq!(reserve(&mut conn, 10_001, 0).await, None);
    }

    async fn a_series_waits_until_its_retry_time(backend: Backend) {
        let database = migrated(backend).await;
        let mut conn = database.db().pool().acquire().await.expect("connection");
        for failures in 1..=3 {
            let wait = if failures == 3 { 1_000 } else { 0 };
            assert_eq!(reserve(&mut conn, 10_000, wait).await, Some(failures));
        }
        assert_eq!(reserve(&mut conn, 10_999, 2_000).await, None);
        assert_eq!(reserve(&mut conn, 11_000, 2_000).await, Some(4));
        // Given back, it leaves the series as it found it: allowed at once.
        release_network_attempt(&mut conn, "ada", "192.0.2.1", 11_000, 13_000)
            .await
            .expect("release");
        let series = network_failures(&mut conn, "ada", "192.0.2.1")
            .await
            .expect("read")
            .expect("a series");
        assert_eq!((series.failures, series.retry_time), (3, 11_000));
        assert_eq!(reserve(&mut conn, 11_001, 2_000).await, Some(4));
        // A window after its last failure, the series starts afresh.
        assert_eq!(reserve(&mut conn, 11_001 + 900_000, 0).await, Some(1));
    }
}
