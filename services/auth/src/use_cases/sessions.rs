//! Sessions: logging in (with throttling of failed attempts), rotating refresh tokens (a
//! spent one presented again revokes its whole session), logging out, listing and revoking
//! one's sessions, and the signing keys that make access tokens verifiable.

use gigmesh_auth::{Claims, SigningKey};
use gigmesh_db::{DbError, Tx};
use gigmesh_types::{SessionId, now_millis};
use tracing::Span;

use super::{Attempt, AttemptOutcome, AuthCore};
use crate::config::millis;
use crate::counters;
use crate::credentials::SecretToken;
use crate::domain::{
    Account, CallerSession, ClientOrigin, IssuedTokens, LoggedIn, LoginName, Password,
    RefreshDecision, RefreshRefusal, RefreshTokenRecord, RevokeReason, SessionPage, ThrottleLimit,
    ThrottleScope, admit_log_in, decide_refresh,
};
use crate::error::AuthError;
use crate::store::{self, NewSession, SessionStatus};

impl AuthCore {
    /// Checks the password presented for `login` and opens a session for `origin`. Unknown
    /// names and wrong passwords read the same and are throttled the same; the account's state
    /// is told only once the password is proven. Before the password is checked, the attempt
    /// counts against the client's network (IPv4 address or IPv6 /64), against the account
    /// from that network (progressively delayed), and against the account from all networks
    /// (a ceiling, which a network the account logged in from before does not hit: nobody
    /// elsewhere can lock the owner out). A proven password ends the network's series of
    /// failures against the account, gives the other counts their attempt back, and makes
    /// the network known to the account.
    pub(crate) async fn log_in(
        &self,
        login: &LoginName,
        password: &Password,
        origin: &ClientOrigin,
    ) -> Result<LoggedIn, AuthError> {
        let network = origin.client_network.as_str();
        let (found, known_network) = {
            let mut conn = self.connection().await?;
            let found = match login {
                LoginName::Email(email) => store::find_account_by_email(&mut conn, email).await?,
                LoginName::Username(key) => store::find_account_by_username(&mut conn, key).await?,
            };
            let known_network = match (&found, origin.told_network()) {
                (Some(found), Some(told)) => {
                    let since = now_millis()
                        .saturating_sub(millis(self.config.throttle.known_network_ttl()));
                    store::is_known_login_network(&mut conn, found.account.id, told, since).await?
                }
                _ => false,
            };
            (found, known_network)
        };
        let account_subject = match &found {
            Some(found) => found.account.id.to_string(),
            None => login.unknown_account_subject(),
        };
        let account_limit = if known_network {
            ThrottleLimit::counting_only(millis(self.config.throttle.window()))
        } else {
            self.throttle_limit(ThrottleScope::Account)
        };
        let attempts = self
            .reserve_attempts(&[
                Attempt::Windowed {
                    scope: ThrottleScope::Address,
                    subject: network,
                    limit: self.throttle_limit(ThrottleScope::Address),
                },
                Attempt::FromNetwork {
                    subject: &account_subject,
                    network,
                },
                Attempt::Windowed {
                    scope: ThrottleScope::Account,
                    subject: &account_subject,
                    limit: account_limit,
                },
            ])
            .await?;

        let stored_hash = found.as_ref().map(|found| found.password_hash.as_str());
        let password_ok = match self.hasher.verify(password, stored_hash).await {
            Ok(password_ok) => password_ok,
            Err(error) => return Err(self.release_unchecked(attempts, error.into()).await),
        };
        let Some(found) = found.filter(|_| password_ok) else {
            // The reserved attempts stay counted: they are the failures.
            tracing::info!("log-in refused: invalid login or password");
            return Err(AuthError::InvalidCredentials);
        };
        let account = found.account;
        Span::current().record("user_id", tracing::field::display(account.id));
        self.release_attempts(attempts, AttemptOutcome::Proven)
            .await?;
        if let Some(told) = origin.told_network() {
            store::remember_login_network(
                &mut *self.connection().await?,
                account.id,
                told,
                now_millis(),
            )
            .await?;
        }
        admit_log_in(&account).inspect_err(|refusal| {
            tracing::info!(reason = %refusal, "log-in refused after a correct password");
        })?;
        if self.hasher.needs_rehash(&found.password_hash)
            && let Err(error) = self.rehash_password(&account, password).await
        {
            tracing::warn!(error = %error, "cannot re-hash the password: keeping the old hash");
        }

        let now = now_millis();
        let session_id = SessionId::new();
        let refresh_token = SecretToken::generate();
        let refresh_expire_time = now.saturating_add(millis(self.config.refresh_token_ttl()));
        let mut tx = self.db.begin().await?;
        store::insert_session(
            &mut tx,
            &NewSession {
                id: session_id,
                account_id: account.id,
                user_agent: &origin.user_agent,
                client_address: &origin.client_address,
                now,
                expire_time: refresh_expire_time,
            },
        )
        .await?;
        store::insert_refresh_token(
            &mut tx,
            &refresh_token.hash,
            session_id,
            now,
            refresh_expire_time,
        )
        .await?;
        tx.commit().await.map_err(DbError::from)?;
        Span::current().record("session_id", tracing::field::display(session_id));
        tracing::info!("logged in");
        let tokens =
            self.issue_tokens(&account, session_id, &refresh_token, refresh_expire_time)?;
        Ok(LoggedIn { account, tokens })
    }

    /// Replaces a hash made with older cost parameters; a failure only costs the upgrade.
    async fn rehash_password(
        &self,
        account: &Account,
        password: &Password,
    ) -> Result<(), AuthError> {
        let new_hash = self.hasher.hash(password).await?;
        let mut conn = self.connection().await?;
        store::set_password_hash(&mut conn, account.id, &new_hash, now_millis()).await?;
        tracing::info!("password re-hashed with the configured parameters");
        Ok(())
    }

    /// Signs an access token for the session and pairs it with its refresh token.
    fn issue_tokens(
        &self,
        account: &Account,
        session_id: SessionId,
        refresh_token: &SecretToken,
        refresh_expire_time: i64,
    ) -> Result<IssuedTokens, AuthError> {
        let claims = Claims::new(
            account.id.to_string(),
            session_id.to_string(),
            &account.roles,
            self.config.access_token_ttl(),
        );
        let access_token = self.signer.sign(&claims)?;
        Ok(IssuedTokens {
            access_token,
            access_token_expire_time: claims.exp.saturating_mul(1_000),
            refresh_token: refresh_token.token.clone(),
            refresh_token_expire_time: refresh_expire_time,
        })
    }

    /// Exchanges the refresh token with `token_hash` for a new pair in the same session. A
    /// token presented after it was spent revokes the session: someone replays it.
    pub(crate) async fn refresh(&self, token_hash: &str) -> Result<IssuedTokens, AuthError> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let record = store::find_refresh_token(&mut tx, token_hash)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        Span::current().record("user_id", tracing::field::display(record.account_id));
        Span::current().record("session_id", tracing::field::display(record.session_id));
        match decide_refresh(&record, now) {
            RefreshDecision::Refuse(RefreshRefusal::AccountSuspended) => {
                return Err(AuthError::AccountSuspended);
            }
            RefreshDecision::Refuse(RefreshRefusal::SessionEnded) => {
                return Err(AuthError::SessionEnded);
            }
            RefreshDecision::Refuse(RefreshRefusal::Expired) => {
                return Err(AuthError::InvalidRefreshToken);
            }
            RefreshDecision::RevokeFamily => {
                self.revoke_replayed_session(tx, &record, now, "spent token presented again")
                    .await?;
                return Err(AuthError::RefreshTokenReused);
            }
            RefreshDecision::Rotate => {}
        }
        if !store::spend_refresh_token(&mut tx, token_hash, now).await? {
            // Another request spent it a moment ago: the same token was used twice.
            self.revoke_replayed_session(tx, &record, now, "token spent concurrently")
                .await?;
            return Err(AuthError::RefreshTokenReused);
        }
        let refresh_token = SecretToken::generate();
        let refresh_expire_time = now.saturating_add(millis(self.config.refresh_token_ttl()));
        store::insert_refresh_token(
            &mut tx,
            &refresh_token.hash,
            record.session_id,
            now,
            refresh_expire_time,
        )
        .await?;
        store::touch_session(&mut tx, record.session_id, now, refresh_expire_time).await?;
        // Roles are read now, so a role granted since the log-in is in the new token.
        let account = self.load_account(&mut tx, record.account_id).await?.account;
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!("tokens refreshed");
        self.issue_tokens(
            &account,
            record.session_id,
            &refresh_token,
            refresh_expire_time,
        )
    }

    /// Ends the caller's session; ending an ended session is fine.
    pub(crate) async fn log_out(&self, caller: CallerSession) -> Result<(), AuthError> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let revoked = store::revoke_session(
            &mut tx,
            caller.account_id,
            caller.session_id,
            RevokeReason::LogOut,
            now,
        )
        .await?;
        if revoked {
            self.announce_ended_sessions(&mut tx, caller.account_id, &[caller.session_id], now)
                .await?;
        }
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!(revoked, "logged out");
        Ok(())
    }

    /// Up to `size` of the caller's live sessions, newest first, after the session `after`.
    pub(crate) async fn list_sessions(
        &self,
        caller: CallerSession,
        size: u32,
        after: Option<SessionId>,
    ) -> Result<SessionPage, AuthError> {
        self.require_live_session(caller).await?;
        let mut conn = self.connection().await?;
        // One more than a page tells whether another page follows.
        let mut sessions =
            store::list_live_sessions(&mut conn, caller.account_id, now_millis(), after, size + 1)
                .await?;
        let next_after = if sessions.len() > size as usize {
            sessions.truncate(size as usize);
            sessions.last().map(|last| last.id)
        } else {
            None
        };
        Ok(SessionPage {
            sessions,
            next_after,
        })
    }

    /// Revokes one of the caller's own sessions; another account's session reads exactly
    /// like one that does not exist.
    pub(crate) async fn revoke_session(
        &self,
        caller: CallerSession,
        session_id: SessionId,
    ) -> Result<(), AuthError> {
        self.require_live_session(caller).await?;
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let revoked = store::revoke_session(
            &mut tx,
            caller.account_id,
            session_id,
            RevokeReason::RevokedByOwner,
            now,
        )
        .await?;
        if revoked {
            self.announce_ended_sessions(&mut tx, caller.account_id, &[session_id], now)
                .await?;
        } else if store::session_status(&mut tx, caller.account_id, session_id, now).await?
            == SessionStatus::Unknown
        {
            return Err(AuthError::SessionNotFound(session_id));
        }
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!(%session_id, revoked, "session revoked by its owner");
        Ok(())
    }

    /// Revokes the session of a replayed refresh token, with everything else `tx` did.
    async fn revoke_replayed_session(
        &self,
        mut tx: Tx,
        record: &RefreshTokenRecord,
        now: i64,
        why: &'static str,
    ) -> Result<(), AuthError> {
        counters::count_refresh_token_reuse();
        tracing::warn!(reason = why, "refresh token reused: revoking its session");
        let revoked = store::revoke_session(
            &mut tx,
            record.account_id,
            record.session_id,
            RevokeReason::RefreshTokenReuse,
            now,
        )
        .await?;
        if revoked {
            self.announce_ended_sessions(&mut tx, record.account_id, &[record.session_id], now)
                .await?;
        }
        tx.commit().await.map_err(DbError::from)?;
        Ok(())
    }

    /// Every unretired signing key, newest first: their public halves verify access tokens.
    pub(crate) async fn signing_keys(&self) -> Result<Vec<SigningKey>, AuthError> {
        let mut conn = self.connection().await?;
        let stored = store::unretired_signing_keys(&mut conn).await?;
        stored
            .iter()
            .map(|key| {
                SigningKey::from_pkcs8_der(key.kid.clone(), &key.private_key_der)
                    .map_err(AuthError::Internal)
            })
            .collect()
    }
}
