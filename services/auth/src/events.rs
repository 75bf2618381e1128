//! Events the auth service emits on `gigmesh.auth.v1` (written to the outbox in the
//! transaction of the state change they report) and the handler of the events it consumes
//! from `gigmesh.users.v1`.

use async_trait::async_trait;
use gigmesh_auth::Role;
use gigmesh_db::{DbError, Tx};
use gigmesh_events::{Envelope, EventHandler, HandlerError};
use gigmesh_proto::EventMessage;
use gigmesh_proto::auth::{
    AccountSuspended, AccountUnsuspended, EmailVerificationRequested, EmailVerified,
    PasswordChanged, PasswordResetRequested, RolesChanged, SessionsRevoked, UserRegistered,
};
use gigmesh_proto::users::SellerActivated;
use gigmesh_types::{SessionId, UserId, now_millis, timestamp_from_millis};
use tracing::instrument;

use crate::domain::{Account, role_set};
use crate::mail_token::SealedToken;
use crate::output::roles_to_proto;
use crate::store;

/// The consumer (group) name of auth's inbox.
pub const CONSUMER_NAME: &str = "auth.users-events";

/// Writes `event` about `account_id` to the outbox, in `tx`.
pub(crate) async fn emit<E: EventMessage>(
    tx: &mut Tx,
    account_id: UserId,
    event: &E,
) -> Result<(), DbError> {
    gigmesh_events::enqueue(tx, &account_id.to_string(), event).await?;
    Ok(())
}

/// An account was created.
pub(crate) fn user_registered(account: &Account) -> UserRegistered {
    UserRegistered {
        user_id: account.id.to_string(),
        email: account.email.clone(),
        username: account.username.clone(),
        create_time: Some(timestamp_from_millis(account.create_time)),
    }
}

/// The verification mail, with the token sealed for the mailer (only notifications opens
/// it).
pub(crate) fn email_verification_requested(
    account: &Account,
    token: SealedToken,
    expire_time: i64,
) -> EmailVerificationRequested {
    EmailVerificationRequested {
        user_id: account.id.to_string(),
        email: account.email.clone(),
        username: account.username.clone(),
        sealed_token: token.sealed,
        token_key_id: token.key_id,
        expire_time: Some(timestamp_from_millis(expire_time)),
    }
}

/// Sessions ended; their access tokens stay signed until `tokens_expire_time`.
pub(crate) fn sessions_revoked(
    account_id: UserId,
    sessions: &[SessionId],
    tokens_expire_time: i64,
) -> SessionsRevoked {
    SessionsRevoked {
        user_id: account_id.to_string(),
        session_ids: sessions.iter().map(ToString::to_string).collect(),
        expire_time: Some(timestamp_from_millis(tokens_expire_time)),
    }
}

/// The address was verified.
pub(crate) fn email_verified(account: &Account) -> EmailVerified {
    EmailVerified {
        user_id: account.id.to_string(),
        email: account.email.clone(),
    }
}

/// The reset mail, with the token sealed for the mailer (only notifications opens it).
pub(crate) fn password_reset_requested(
    account: &Account,
    token: SealedToken,
    expire_time: i64,
) -> PasswordResetRequested {
    PasswordResetRequested {
        user_id: account.id.to_string(),
        email: account.email.clone(),
        username: account.username.clone(),
        sealed_token: token.sealed,
        token_key_id: token.key_id,
        expire_time: Some(timestamp_from_millis(expire_time)),
    }
}

/// The password changed (by change or reset).
pub(crate) fn password_changed(account: &Account) -> PasswordChanged {
    PasswordChanged {
        user_id: account.id.to_string(),
        email: account.email.clone(),
    }
}

/// The account now holds `roles`.
pub(crate) fn roles_changed(account_id: UserId, roles: &[Role]) -> RolesChanged {
    RolesChanged {
        user_id: account_id.to_string(),
        roles: roles_to_proto(roles),
    }
}

/// An admin suspended the account.
pub(crate) fn account_suspended(account_id: UserId, reason: &str) -> AccountSuspended {
    AccountSuspended {
        user_id: account_id.to_string(),
        reason: reason.to_owned(),
    }
}

/// An admin lifted the suspension.
pub(crate) fn account_unsuspended(account_id: UserId) -> AccountUnsuspended {
    AccountUnsuspended {
        user_id: account_id.to_string(),
    }
}

/// Handles `gigmesh.users.v1`: a user who became a seller gets the seller role, once.
#[derive(Debug, Default, Clone, Copy)]
pub struct UsersEventHandler;

impl UsersEventHandler {
    #[instrument(skip_all, fields(user_id = %event.user_id))]
    async fn grant_seller_role(
        &self,
        tx: &mut Tx,
        event: SellerActivated,
    ) -> Result<(), HandlerError> {
        let Ok(account_id) = UserId::parse("user_id", &event.user_id) else {
            tracing::warn!("seller activated for a malformed user id: ignored");
            return Ok(());
        };
        let Some(found) = store::find_account(tx, account_id).await? else {
            tracing::warn!("seller activated for an unknown account: ignored");
            return Ok(());
        };
        let newly_granted = store::grant_role(tx, account_id, Role::Seller, now_millis()).await?;
        if !newly_granted {
            tracing::debug!("seller role already held");
            return Ok(());
        }
        let roles = role_set(found.account.roles.into_iter().chain([Role::Seller]));
        emit(tx, account_id, &roles_changed(account_id, &roles)).await?;
        tracing::info!("seller role granted");
        Ok(())
    }
}

#[async_trait]
impl EventHandler for UsersEventHandler {
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError> {
        if let Some(decoded) = gigmesh_events::decode::<SellerActivated>(envelope) {
            return self.grant_seller_role(tx, decoded?).await;
        }
        Ok(())
    }
}
