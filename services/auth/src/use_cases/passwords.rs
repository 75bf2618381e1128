//! Passwords: changing one's password (proven with the current one, wrong ones throttled per account)
//! and resetting a forgotten one with a mailed single-use token. Either ends the account's
//! other sessions.

use gigmesh_db::DbError;
use gigmesh_types::{Email, now_millis};
use tracing::Span;

use super::{Attempt, AttemptOutcome, AuthCore, spend_mailed_token};
use crate::domain::{CallerSession, MailedTokenPurpose, Password, RevokeReason, ThrottleScope};
use crate::error::AuthError;
use crate::events;
use crate::store;

impl AuthCore {
    /// Sets a new password once `current_password` checks out, and revokes every session of
    /// the account but the caller's. A wrong current password counts against the account
    /// (its caller is signed in, so per account, not per network), reserved before it is
    /// checked.
    pub(crate) async fn change_password(
        &self,
        caller: CallerSession,
        current_password: &Password,
        new_password: &Password,
    ) -> Result<(), AuthError> {
        self.require_live_session(caller).await?;
        let found = self
            .load_account(&mut *self.connection().await?, caller.account_id)
            .await?;
        let attempts = self
            .reserve_attempts(&[Attempt::Windowed {
                scope: ThrottleScope::PasswordChange,
                subject: &caller.account_id.to_string(),
                limit: self.throttle_limit(ThrottleScope::PasswordChange),
            }])
            .await?;
        let matches = match self
            .hasher
            .verify(current_password, Some(&found.password_hash))
            .await
        {
            Ok(matches) => matches,
            Err(error) => return Err(self.release_unchecked(attempts, error.into()).await),
        };
        if !matches {
            // The reserved attempt stays counted: it is the failure.
            tracing::info!("password change refused: wrong current password");
            return Err(AuthError::WrongCurrentPassword);
        }
        self.release_attempts(attempts, AttemptOutcome::Proven)
            .await?;
        let new_hash = self.hasher.hash(new_password).await?;
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        store::set_password_hash(&mut tx, caller.account_id, &new_hash, now).await?;
        let revoked = store::revoke_sessions_of(
            &mut tx,
            caller.account_id,
            Some(caller.session_id),
            RevokeReason::PasswordChanged,
            now,
        )
        .await?;
        self.announce_ended_sessions(&mut tx, caller.account_id, &revoked, now)
            .await?;
        events::emit(
            &mut tx,
            caller.account_id,
            &events::password_changed(&found.account),
        )
        .await?;
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!(revoked_sessions = revoked.len(), "password changed");
        Ok(())
    }

    /// Mails a reset token when an active account has the address and was sent no reset mail
    /// within the mail cooldown; answers the same either way, so it tells nobody which
    /// addresses have accounts.
    pub(crate) async fn request_password_reset(&self, email: &Email) -> Result<(), AuthError> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let found = store::find_account_by_email(&mut tx, email.as_str()).await?;
        let Some(found) = found.filter(|found| !found.account.is_suspended()) else {
            tx.rollback().await.map_err(DbError::from)?;
            tracing::debug!("no active account for the address");
            return Ok(());
        };
        let account = found.account;
        Span::current().record("user_id", tracing::field::display(account.id));
        if !self
            .claim_requested_mail(&mut tx, account.id, MailedTokenPurpose::ResetPassword, now)
            .await?
        {
            // A reset mail went out within the cooldown; this request sends none.
            tx.rollback().await.map_err(DbError::from)?;
            return Ok(());
        }
        let mailed = self
            .issue_mailed_token(
                &mut tx,
                account.id,
                MailedTokenPurpose::ResetPassword,
                self.config.password_reset_ttl(),
                now,
            )
            .await?;
        events::emit(
            &mut tx,
            account.id,
            &events::password_reset_requested(
                &account,
                self.mail_token_sealer.seal(&mailed.token.token)?,
                mailed.expire_time,
            ),
        )
        .await?;
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!("password reset mail requested");
        Ok(())
    }

    /// Spends a reset token and sets a new password for its account; every session of the
    /// account ends, and the mail proves the address.
    pub(crate) async fn reset_password(
        &self,
        token_hash: &str,
        new_password: &Password,
    ) -> Result<(), AuthError> {
        // Refuse a bad token before paying for a hash; the transaction spends it atomically.
        let usable = store::mailed_token_is_usable(
            &mut *self.connection().await?,
            token_hash,
            MailedTokenPurpose::ResetPassword,
            now_millis(),
        )
        .await?;
        if !usable {
            return Err(AuthError::InvalidMailedToken { field: "token" });
        }
        let new_hash = self.hasher.hash(new_password).await?;
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let account_id =
            spend_mailed_token(&mut tx, token_hash, MailedTokenPurpose::ResetPassword, now).await?;
        Span::current().record("user_id", tracing::field::display(account_id));
        store::set_password_hash(&mut tx, account_id, &new_hash, now).await?;
        let revoked =
            store::revoke_sessions_of(&mut tx, account_id, None, RevokeReason::PasswordReset, now)
                .await?;
        self.announce_ended_sessions(&mut tx, account_id, &revoked, now)
            .await?;
        // The mail reached its owner: the address is proven, and with the new password the
        // failures of the old one are moot.
        let newly_verified = store::mark_email_verified(&mut tx, account_id, now).await?;
        let subject = account_id.to_string();
        for scope in [ThrottleScope::Account, ThrottleScope::PasswordChange] {
            store::clear_failures(&mut tx, scope, &subject).await?;
        }
        store::clear_network_failures(&mut tx, &subject, None).await?;
        let account = self.load_account(&mut tx, account_id).await?.account;
        if newly_verified {
            events::emit(&mut tx, account_id, &events::email_verified(&account)).await?;
        }
        events::emit(&mut tx, account_id, &events::password_changed(&account)).await?;
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!(revoked_sessions = revoked.len(), "password reset");
        Ok(())
    }
}
