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
use gigmesh_types::{SessionId, UserId, now_millis};
use sqlx::AnyConnection;
use sqlx::pool::PoolConnection;

use crate::config::{Config, millis};
use crate::credentials::{PasswordHasher, SecretToken};
use crate::domain::{
    CallerSession, MailedTokenPurpose, ProgressiveDelay, ThrottleLimit, ThrottleScope,
    network_wait, throttle_wait,
};
use crate::error::AuthError;
use crate::events;
use crate::mail_token::MailTokenSealer;
use crate::store::{self, AccountWithHash, SessionStatus};

/// Longer than any verifier accepts a token past its expiry.
const ACCESS_TOKEN_LEEWAY: Duration = Duration::from_secs(60);

/// The state every request shares: the database, the settings, the password hasher, the
/// key that signs access tokens and the key mailed tokens are sealed to.
pub(crate) struct AuthCore {
    pub(crate) db: Db,
    pub(crate) config: Config,
    pub(crate) hasher: PasswordHasher,
    pub(crate) signer: TokenSigner,
    pub(crate) mail_token_sealer: MailTokenSealer,
}

/// A password attempt to count before its password is checked.
#[derive(Debug, Clone, Copy)]
enum Attempt<'a> {
    /// Counted in `subject`'s window of `scope`, refused once it holds `limit`'s failures.
    Windowed {
        scope: ThrottleScope,
        subject: &'a str,
        limit: ThrottleLimit,
    },
    /// Counted in the series of `subject`'s failed log-ins from `network`, refused while the
    /// series' progressive delay lasts.
    FromNetwork { subject: &'a str, network: &'a str },
}

/// Attempts counted as failed before their password is checked.
#[must_use = "reserved attempts are kept as failures or given back"]
struct ReservedAttempts {
    reserved: Vec<ReservedAttempt>,
}

/// One counted attempt, and what it changed.
enum ReservedAttempt {
    /// Counted in the window of `scope` that started at `window_start`.
    Windowed {
        scope: ThrottleScope,
        subject: String,
        window_start: i64,
    },
    /// Counted at `reserve_time` in a network's series, which then waits until `retry_time`.
    FromNetwork {
        subject: String,
        network: String,
        reserve_time: i64,
        retry_time: i64,
    },
}

/// What became of reserved attempts once their password was (or was not) checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttemptOutcome {
    /// The password checked out: its network's series is over, the windows get the attempt
    /// back.
    Proven,
    /// The password could not be checked: no failure, every count gets the attempt back.
    Unchecked,
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

    /// Announces, in `tx`, that `sessions` of `account_id` ended: every service refuses
    /// their access tokens from the moment it learns it until those tokens expire anyway.
    async fn announce_ended_sessions(
        &self,
        tx: &mut Tx,
        account_id: UserId,
        sessions: &[SessionId],
        now: i64,
    ) -> Result<(), DbError> {
        if sessions.is_empty() {
            return Ok(());
        }
        // An access token signed just now lives its lifetime, plus the verifiers' leeway.
        let tokens_expire_time = now
            .saturating_add(millis(self.config.access_token_ttl()))
            .saturating_add(millis(ACCESS_TOKEN_LEEWAY));
        events::emit(
            tx,
            account_id,
            &events::sessions_revoked(account_id, sessions, tokens_expire_time),
        )
        .await
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
                ThrottleScope::PasswordChange => throttle.max_failed_password_changes,
            },
            window_millis: millis(throttle.window()),
        }
    }

    fn progressive_delay(&self) -> ProgressiveDelay {
        let throttle = &self.config.throttle;
        ProgressiveDelay {
            free_failures: throttle.free_failures_per_network,
            first_delay_millis: millis(throttle.first_delay()),
            max_delay_millis: millis(throttle.max_delay()),
            forget_after_millis: millis(throttle.window()),
        }
    }

    /// Counts every one of `attempts` as failed before its password is checked, in one
    /// transaction, or refuses it (counting nothing) while any of them is throttled: a
    /// window full of failures, or a network's delay that has not passed. Counting first is
    /// what keeps concurrent guesses from all passing the check: at most what the limits
    /// allow are ever let through to be checked. The caller keeps the count when the
    /// password is wrong and gives it back with [`Self::release_attempts`] otherwise; an
    /// attempt abandoned by its caller while its password is checked stays counted.
    async fn reserve_attempts(
        &self,
        attempts: &[Attempt<'_>],
    ) -> Result<ReservedAttempts, AuthError> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let mut reserved = Vec::with_capacity(attempts.len());
        for &attempt in attempts {
            match attempt {
                Attempt::Windowed {
                    scope,
                    subject,
                    limit,
                } => {
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
                    reserved.push(ReservedAttempt::Windowed {
                        scope,
                        subject: subject.to_owned(),
                        window_start,
                    });
                }
                Attempt::FromNetwork { subject, network } => {
                    let delay = self.progressive_delay();
                    let forget_before = now.saturating_sub(delay.forget_after_millis);
                    let Some(failures) = store::reserve_network_attempt(
                        &mut tx,
                        subject,
                        network,
                        now,
                        forget_before,
                        delay.free_failures,
                    )
                    .await?
                    else {
                        let series = store::network_failures(&mut tx, subject, network).await?;
                        tx.rollback().await.map_err(DbError::from)?;
                        tracing::warn!(scope = "account_network", "attempt throttled");
                        return Err(AuthError::TooManyFailedLogIns {
                            retry_after: network_wait(series, now),
                        });
                    };
                    let retry_time = now.saturating_add(delay.after(failures));
                    store::set_network_retry_time(&mut tx, subject, network, retry_time).await?;
                    reserved.push(ReservedAttempt::FromNetwork {
                        subject: subject.to_owned(),
                        network: network.to_owned(),
                        reserve_time: now,
                        retry_time,
                    });
                }
            }
        }
        tx.commit().await.map_err(DbError::from)?;
        Ok(ReservedAttempts { reserved })
    }

    /// Settles `attempts` whose password was not found wrong, in one transaction: a proven
    /// password ends its network's series of failures and gives the windows their attempt
    /// back; an unchecked one gives every count its attempt back.
    async fn release_attempts(
        &self,
        attempts: ReservedAttempts,
        outcome: AttemptOutcome,
    ) -> Result<(), AuthError> {
        let mut tx = self.db.begin().await?;
        for attempt in &attempts.reserved {
            match attempt {
                ReservedAttempt::Windowed {
                    scope,
                    subject,
                    window_start,
                } => {
                    store::release_attempt(&mut tx, *scope, subject, *window_start).await?;
                }
                ReservedAttempt::FromNetwork {
                    subject, network, ..
                } if outcome == AttemptOutcome::Proven => {
                    store::clear_network_failures(&mut tx, subject, Some(network)).await?;
                }
                ReservedAttempt::FromNetwork {
                    subject,
                    network,
                    reserve_time,
                    retry_time,
                } => {
                    store::release_network_attempt(
                        &mut tx,
                        subject,
                        network,
                        *reserve_time,
                        *retry_time,
                    )
                    .await?;
                }
            }
        }
        tx.commit().await.map_err(DbError::from)?;
        Ok(())
    }

    /// Gives back `attempts` whose password could not be checked (`error`), and returns
    /// `error`: an attempt that was never evaluated is no failure.
    async fn release_unchecked(&self, attempts: ReservedAttempts, error: AuthError) -> AuthError {
        if let Err(release_error) = self
            .release_attempts(attempts, AttemptOutcome::Unchecked)
            .await
        {
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
