//! The auth use cases: each takes domain values, runs against the store (a state change and
//! its outbox events in one transaction) and answers with domain values, never proto. This
//! file holds the state they share ([`AuthCore`]) and the steps several of them take: live
//! session checks, log-in throttling, mailed tokens. The use cases themselves live by
//! concern in `accounts.rs`, `sessions.rs` and `passwords.rs`.

mod accounts;
mod passwords;
mod sessions;

use std::time::Duration;

use gigmesh_auth::TokenSigner;
use gigmesh_db::{Db, DbError, Tx};
use gigmesh_types::{UserId, now_millis};
use sqlx::AnyConnection;
use sqlx::pool::PoolConnection;

use crate::config::{Config, millis};
use crate::credentials::{PasswordHasher, SecretToken};
use crate::domain::{
    CallerSession, MailedTokenPurpose, ThrottleLimit, ThrottleScope, check_throttle,
};
use crate::error::AuthError;
use crate::store::{self, AccountWithHash, SessionStatus};

/// The state every request shares: the database, the settings, the password hasher and the
/// key that signs access tokens.
pub(crate) struct AuthCore {
    pub(crate) db: Db,
    pub(crate) config: Config,
    pub(crate) hasher: PasswordHasher,
    pub(crate) signer: TokenSigner,
}

/// A mailed token just issued: the secret for the mail, and when it expires (unix millis).
struct MailedToken {
    token: SecretToken,
    expire_time: i64,
}

impl AuthCore {
    /// A connection for reads and single statements outside a transaction.
    async fn connection(&self) -> Result<PoolConnection<sqlx::Any>, AuthError> {
        Ok(self.db.pool().acquire().await.map_err(DbError::from)?)
    }

    /// The account with `account_id`, or `AccountNotFound`.
    async fn load_account(
        &self,
        conn: &mut AnyConnection,
        account_id: UserId,
    ) -> Result<AccountWithHash, AuthError> {
        store::find_account(conn, account_id)
            .await?
            .ok_or(AuthError::AccountNotFound(account_id))
    }

    /// Refuses a caller whose session was revoked or expired since its access token was
    /// signed: auth is where a session ends, so auth checks it on every signed-in call.
    async fn require_live_session(&self, caller: CallerSession) -> Result<(), AuthError> {
        let mut conn = self.connection().await?;
        let status = store::session_status(
            &mut conn,
            caller.account_id,
            caller.session_id,
            now_millis(),
        )
        .await?;
        match status {
            SessionStatus::Live => Ok(()),
            SessionStatus::Ended | SessionStatus::Unknown => Err(AuthError::SessionEnded),
        }
    }

    fn throttle_limit(&self, scope: ThrottleScope) -> ThrottleLimit {
        let throttle = &self.config.throttle;
        ThrottleLimit {
            max_failures: match scope {
                ThrottleScope::Account => throttle.max_failures_per_account,
                ThrottleScope::Address => throttle.max_failures_per_address,
            },
            window_millis: millis(throttle.window()),
        }
    }

    /// Refuses another attempt of `subject` while its failures fill the window.
    async fn ensure_not_throttled(
        &self,
        conn: &mut AnyConnection,
        scope: ThrottleScope,
        subject: &str,
    ) -> Result<(), AuthError> {
        let count = store::failure_count(conn, scope, subject).await?;
        check_throttle(count, self.throttle_limit(scope), now_millis()).map_err(|retry_after| {
            tracing::warn!(scope = scope.as_str(), "log-in throttled");
            AuthError::TooManyFailedLogIns { retry_after }
        })
    }

    /// Counts a failed attempt against every one of `subjects`, together.
    async fn record_failed_attempt(
        &self,
        subjects: &[(ThrottleScope, &str)],
    ) -> Result<(), AuthError> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        for (scope, subject) in subjects {
            let window_millis = self.throttle_limit(*scope).window_millis;
            store::record_failure(&mut tx, *scope, subject, now, window_millis).await?;
        }
        tx.commit().await.map_err(DbError::from)?;
        Ok(())
    }

    /// Issues a new mailed token of the account for `purpose`, valid for `ttl`, inside `tx`;
    /// its older unspent tokens for the purpose are spent, so only the newest mail works.
    async fn issue_mailed_token(
        &self,
        tx: &mut Tx,
        account_id: UserId,
        purpose: MailedTokenPurpose,
        ttl: Duration,
        now: i64,
    ) -> Result<MailedToken, AuthError> {
        let token = SecretToken::generate();
        let expire_time = now.saturating_add(millis(ttl));
        store::spend_mailed_tokens_of(tx, account_id, purpose, now).await?;
        store::insert_mailed_token(tx, &token.hash, account_id, purpose, now, expire_time).await?;
        Ok(MailedToken { token, expire_time })
    }
}

/// Spends the mailed token with `token_hash` for `purpose` inside `tx`; returns its account,
/// or refuses a token that is unknown, expired or spent.
async fn spend_mailed_token(
    tx: &mut Tx,
    token_hash: &str,
    purpose: MailedTokenPurpose,
    now: i64,
) -> Result<UserId, AuthError> {
    store::spend_mailed_token(tx, token_hash, purpose, now)
        .await?
        .ok_or(AuthError::InvalidMailedToken { field: "token" })
}
