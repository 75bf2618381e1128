//! Accounts: signing up (and seeding demo and bootstrap accounts), proving the email address
//! with a mailed token, reading one's own account, and an admin suspending and unsuspending
//! an account.

use gigmesh_auth::Role;
use gigmesh_db::{DbError, Tx};
use gigmesh_types::{Email, UserId, now_millis};
use sqlx::AnyConnection;
use tracing::Span;

use super::{AuthCore, spend_mailed_token};
use crate::domain::{
    Account, AccountState, CallerSession, MailedTokenPurpose, Password, RevokeReason, Username,
    role_set,
};
use crate::error::AuthError;
use crate::events;
use crate::store::{self, NewAccount};

/// Refuses an email address or a username (in any letter case) another account uses.
async fn ensure_names_free(
    conn: &mut AnyConnection,
    email: &Email,
    username: &Username,
) -> Result<(), AuthError> {
    if store::email_is_taken(conn, email.as_str()).await? {
        return Err(AuthError::EmailTaken);
    }
    if store::username_is_taken(conn, username).await? {
        return Err(AuthError::UsernameTaken);
    }
    Ok(())
}

impl AuthCore {
    /// Creates an unverified buyer account and asks for the verification mail.
    pub(crate) async fn sign_up(
        &self,
        email: &Email,
        username: &Username,
        password: &Password,
    ) -> Result<Account, AuthError> {
        // Refuse taken names before paying for a hash; the transaction checks again.
        ensure_names_free(&mut *self.connection().await?, email, username).await?;
        let password_hash = self.hasher.hash(password).await?;
        let account = self
            .create_account(email, username, &password_hash, &[Role::Buyer], false)
            .await?;
        Span::current().record("user_id", tracing::field::display(account.id));
        tracing::info!("account created");
        Ok(account)
    }

    /// Creates an account with `roles` (plus buyer) unless an account with the email
    /// address or username exists; `verified` marks the address as verified without a mail.
    pub(crate) async fn seed_account(
        &self,
        email: &Email,
        username: &Username,
        password: &Password,
        roles: &[Role],
        verified: bool,
    ) -> Result<(), AuthError> {
        let names_free = ensure_names_free(&mut *self.connection().await?, email, username).await;
        if let Err(AuthError::EmailTaken | AuthError::UsernameTaken) = names_free {
            tracing::debug!(username = username.as_str(), "seed account exists");
            return Ok(());
        }
        names_free?;
        let password_hash = self.hasher.hash(password).await?;
        let roles = role_set(roles.iter().copied().chain([Role::Buyer]));
        match self
            .create_account(email, username, &password_hash, &roles, verified)
            .await
        {
            Ok(account) => {
                tracing::info!(user_id = %account.id, username = username.as_str(), "seed account created");
                Ok(())
            }
            // Created concurrently by another replica.
            Err(AuthError::EmailTaken | AuthError::UsernameTaken) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Creates an account with its roles; with `verified` false a verification mail is
    /// requested. Fails with `EmailTaken` / `UsernameTaken`; nothing is written then.
    async fn create_account(
        &self,
        email: &Email,
        username: &Username,
        password_hash: &str,
        roles: &[Role],
        verified: bool,
    ) -> Result<Account, AuthError> {
        let now = now_millis();
        let account = Account {
            id: UserId::new(),
            email: email.as_str().to_owned(),
            username: username.as_str().to_owned(),
            email_verified: verified,
            roles: role_set(roles.iter().copied()),
            state: AccountState::Active,
            create_time: now,
        };
        let mut tx = self.db.begin().await?;
        ensure_names_free(&mut tx, email, username).await?;
        let inserted = store::insert_account(
            &mut tx,
            &NewAccount {
                id: account.id,
                email: email.as_str(),
                username,
                password_hash,
                email_verified: verified,
                roles: &account.roles,
                now,
            },
        )
        .await;
        match inserted {
            Ok(()) => {}
            // A concurrent sign-up took the address or the name between the check and the insert.
            Err(error) if error.is_unique_violation_on("email") => {
                return Err(AuthError::EmailTaken);
            }
            Err(error) if error.is_unique_violation_on("username") => {
                return Err(AuthError::UsernameTaken);
            }
            Err(error) => return Err(error.into()),
        }
        events::emit(&mut tx, account.id, &events::user_registered(&account)).await?;
        if verified {
            events::emit(&mut tx, account.id, &events::email_verified(&account)).await?;
        } else {
            self.request_verification(&mut tx, &account, now).await?;
        }
        if account.roles.iter().any(|role| *role != Role::Buyer) {
            events::emit(
                &mut tx,
                account.id,
                &events::roles_changed(account.id, &account.roles),
            )
            .await?;
        }
        tx.commit().await.map_err(DbError::from)?;
        Ok(account)
    }

    /// Issues a new verification token for the account (spending older ones) and asks for
    /// the mail, inside `tx`.
    async fn request_verification(
        &self,
        tx: &mut Tx,
        account: &Account,
        now: i64,
    ) -> Result<(), AuthError> {
        let mailed = self
            .issue_mailed_token(
                tx,
                account.id,
                MailedTokenPurpose::VerifyEmail,
                self.config.email_verification_ttl(),
                now,
            )
            .await?;
        events::emit(
            tx,
            account.id,
            &events::email_verification_requested(
                account,
                self.mail_token_sealer.seal(&mailed.token.token)?,
                mailed.expire_time,
            ),
        )
        .await?;
        Ok(())
    }

    /// Spends a verification token and marks its account's address verified.
    pub(crate) async fn verify_email(&self, token_hash: &str) -> Result<Account, AuthError> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let account_id =
            spend_mailed_token(&mut tx, token_hash, MailedTokenPurpose::VerifyEmail, now).await?;
        Span::current().record("user_id", tracing::field::display(account_id));
        let newly_verified = store::mark_email_verified(&mut tx, account_id, now).await?;
        let account = self.load_account(&mut tx, account_id).await?.account;
        if newly_verified {
            events::emit(&mut tx, account_id, &events::email_verified(&account)).await?;
        }
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!("email address verified");
        Ok(account)
    }

    /// Mails a new verification token when an unverified, active account has the address and
    /// was sent no resent verification mail within the mail cooldown (the sign-up mail does
    /// not count); answers the same either way, so it tells nobody which addresses have
    /// accounts.
    pub(crate) async fn resend_verification(&self, email: &Email) -> Result<(), AuthError> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let found = store::find_account_by_email(&mut tx, email.as_str()).await?;
        match found {
            Some(found) if !found.account.email_verified && !found.account.is_suspended() => {
                Span::current().record("user_id", tracing::field::display(found.account.id));
                let claimed = self
                    .claim_requested_mail(
                        &mut tx,
                        found.account.id,
                        MailedTokenPurpose::VerifyEmail,
                        now,
                    )
                    .await?;
                if claimed {
                    self.request_verification(&mut tx, &found.account, now)
                        .await?;
                    tx.commit().await.map_err(DbError::from)?;
                    tracing::info!("verification mail requested");
                } else {
                    // A verification mail went out within the cooldown; this request sends
                    // none.
                    tx.rollback().await.map_err(DbError::from)?;
                }
            }
            _ => {
                tx.rollback().await.map_err(DbError::from)?;
                tracing::debug!("no unverified account for the address");
            }
        }
        Ok(())
    }

    /// The caller's own account.
    pub(crate) async fn my_account(&self, caller: CallerSession) -> Result<Account, AuthError> {
        self.require_live_session(caller).await?;
        let mut conn = self.connection().await?;
        Ok(self
            .load_account(&mut conn, caller.account_id)
            .await?
            .account)
    }

    /// Suspends an account for `reason` and ends its sessions; the caller is an admin, and
    /// not the account's owner.
    pub(crate) async fn suspend(
        &self,
        admin: CallerSession,
        account_id: UserId,
        reason: &str,
    ) -> Result<Account, AuthError> {
        if account_id == admin.account_id {
            return Err(AuthError::CannotSuspendOwnAccount);
        }
        self.require_live_session(admin).await?;
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        self.load_account(&mut tx, account_id).await?;
        let changed = store::set_account_state(
            &mut tx,
            account_id,
            AccountState::Suspended,
            Some(reason),
            now,
        )
        .await?;
        if changed {
            let revoked = store::revoke_sessions_of(
                &mut tx,
                account_id,
                None,
                RevokeReason::AccountSuspended,
                now,
            )
            .await?;
            self.announce_ended_sessions(&mut tx, account_id, &revoked, now)
                .await?;
            events::emit(
                &mut tx,
                account_id,
                &events::account_suspended(account_id, reason),
            )
            .await?;
            tracing::info!(revoked_sessions = revoked.len(), "account suspended");
        }
        let account = self.load_account(&mut tx, account_id).await?.account;
        tx.commit().await.map_err(DbError::from)?;
        Ok(account)
    }

    /// Lifts a suspension; the caller is an admin. Ended sessions stay ended.
    pub(crate) async fn unsuspend(
        &self,
        admin: CallerSession,
        account_id: UserId,
    ) -> Result<Account, AuthError> {
        self.require_live_session(admin).await?;
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        self.load_account(&mut tx, account_id).await?;
        let changed =
            store::set_account_state(&mut tx, account_id, AccountState::Active, None, now).await?;
        if changed {
            events::emit(
                &mut tx,
                account_id,
                &events::account_unsuspended(account_id),
            )
            .await?;
            tracing::info!("account unsuspended");
        }
        let account = self.load_account(&mut tx, account_id).await?.account;
        tx.commit().await.map_err(DbError::from)?;
        Ok(account)
    }
}
