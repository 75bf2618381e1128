//! The auth use cases: each takes domain values, runs against the store (a state change and
//! its outbox events in one transaction) and answers with domain values, never proto. This
//! file holds the state they share ([`AuthCore`]) and the steps several of them take: live
//! session checks, throttling of password attempts, mailed tokens and their cooldown. The
//! use cases themselves live by concern in `accounts.rs`, `sessions.rs` and `passwords.rs`.

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
    CallerSession, MailedTokenPurpose, ThrottleLimit, ThrottleScope, throttle_wait,
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

/// Attempts counted as failed before their password is checked.
#[must_use = "reserved attempts are kept as failures or given back"]
struct ReservedAttempts {
    reserved: Vec<ReservedAttempt>,
}

/// One subject's counted attempt, and the window it was counted in.
struct ReservedAttempt {
    scope: ThrottleScope,
    subject: String,
    window_start: i64,
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

    /// Counts an attempt of every one of `subjects` as failed before its password is
    /// checked, in one transaction, or refuses it (counting nothing) while the failures of
    /// any of them fill its window. Counting first is what keeps concurrent guesses from all
    /// passing the check: at most the limit of them are ever let through to be checked. The
    /// caller keeps the count when the password is wrong and gives it back with
    /// [`Self::release_attempts`] otherwise; an attempt abandoned by its caller while its
    /// password is checked stays counted.
    async fn reserve_attempts(
        &self,
        subjects: &[(ThrottleScope, &str)],
    ) -> Result<ReservedAttempts, AuthError> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let mut reserved = Vec::with_capacity(subjects.len());
        for &(scope, subject) in subjects {
            let limit = self.throttle_limit(scope);
            let Some(window_start) =
                store::reserve_attempt(&mut tx, scope, subject, now, limit).await?
            else {
                let count = store::failure_count(&mut tx, scope, subject).await?;
                tx.rollback().await.map_err(DbError::from)?;
                tracing::warn!(scope = scope.as_str(), "attempt throttled");
                return Err(AuthError::TooManyFailedLogIns {
                    retry_after: throttle_wait(count, limit, now),
                });
            };
            reserved.push(ReservedAttempt {
                scope,
                subject: subject.to_owned(),
                window_start,
            });
        }
        tx.commit().await.map_err(DbError::from)?;
        Ok(ReservedAttempts { reserved })
    }

    /// Gives back `attempts` whose password checked out, in one transaction; the counter of
    /// `cleared` (a proven password resets the account's) is forgotten instead.
    async fn release_attempts(
        &self,
        attempts: ReservedAttempts,
        cleared: Option<ThrottleScope>,
    ) -> Result<(), AuthError> {
        let mut tx = self.db.begin().await?;
        for attempt in &attempts.reserved {
            if cleared == Some(attempt.scope) {
                store::clear_failures(&mut tx, attempt.scope, &attempt.subject).await?;
            } else {
                store::release_attempt(
                    &mut tx,
                    attempt.scope,
                    &attempt.subject,
                    attempt.window_start,
                )
                .await?;
            }
        }
        tx.commit().await.map_err(DbError::from)?;
        Ok(())
    }

    /// Gives back `attempts` whose password could not be checked (`error`), and returns
    /// `error`: an attempt that was never evaluated is no failure.
    async fn release_unchecked(&self, attempts: ReservedAttempts, error: AuthError) -> AuthError {
        if let Err(release_error) = self.release_attempts(attempts, None).await {
            tracing::warn!(error = %release_error, "cannot give back an unchecked attempt");
        }
        error
    }

    /// Records a requested mail of `purpose` to the account inside `tx`, unless the account
    /// was sent one within the mail cooldown; returns whether the mail may be sent. The
    /// caller answers the same either way, so the cooldown tells nobody the account exists.
    async fn claim_requested_mail(
        &self,
        tx: &mut Tx,
        account_id: UserId,
        purpose: MailedTokenPurpose,
        now: i64,
    ) -> Result<bool, AuthError> {
        let cooldown_start = now.saturating_sub(millis(self.config.mail_cooldown()));
        let claimed =
            store::record_mail_request(tx, account_id, purpose, now, cooldown_start).await?;
        if !claimed {
            tracing::info!(
                purpose = purpose.as_str(),
                "mail not sent: requested within the cooldown"
            );
        }
        Ok(claimed)
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
