//! How the notification service applies auth's events: each mail-worthy event becomes one
//! mail, sent and then recorded in `sent_mail` in the consumer's transaction; and the
//! addresses of `UserRegistered` and `EmailVerified` are kept in `recipients` for the mails
//! about orders (`order_events.rs`). Those are kept by this consumer, not by the one of
//! orders' events, on purpose: that one retries an order event whose recipient has no
//! address yet, and while it retries it reads nothing else, so the address must arrive
//! through another consumer.
//!
//! Delivery is at least once. The mail is handed to the transport before the transaction
//! (inbox row and `sent_mail` row) commits; if the process crashes or the commit fails in
//! between, the event is delivered again and the mail is sent a second time. The opposite
//! order would lose mail instead, and a duplicate verification or reset mail is harmless
//! (the newest token works), while a lost one locks the user out.

use async_trait::async_trait;
use gigmesh_db::Tx;
use gigmesh_events::{Envelope, EventHandler, HandlerError, decode};
use gigmesh_proto::EventMessage;
use gigmesh_proto::auth::{
    EmailVerificationRequested, EmailVerified, PasswordChanged, PasswordResetRequested,
    UserRegistered,
};
use gigmesh_types::{Email, UserId, millis_from_timestamp, now_millis};
use lettre::message::Mailbox;
use std::sync::Arc;

use crate::domain::{self, Mail, WebApp};
use crate::error::NotificationsError;
use crate::mail_token::MailTokenKeys;
use crate::mailer::{Mailer, build_message};
use crate::store;

/// Consumer group (and inbox name) of the notification service on auth's topic.
pub const CONSUMER_NAME: &str = "notifications.auth-events";

/// Sends the mails auth's events ask for.
pub struct AuthEventsHandler {
    mailer: Arc<dyn Mailer>,
    sender: Mailbox,
    web_app: WebApp,
    mail_token_keys: MailTokenKeys,
}

impl AuthEventsHandler {
    /// A handler sending through `mailer` from `sender`, with links into `web_app`, opening
    /// the mailed tokens with `mail_token_keys`.
    pub fn new(
        mailer: Arc<dyn Mailer>,
        sender: Mailbox,
        web_app: WebApp,
        mail_token_keys: MailTokenKeys,
    ) -> Self {
        Self {
            mailer,
            sender,
            web_app,
            mail_token_keys,
        }
    }

    /// The token sealed in an event of type `E`; a token that does not open is a permanent
    /// failure (the event is dead-lettered and no mail goes out).
    fn open_token<E: EventMessage>(
        &self,
        key_id: &str,
        sealed: &[u8],
    ) -> Result<String, NotificationsError> {
        if sealed.is_empty() {
            return Err(malformed::<E>("the sealed token is empty"));
        }
        let token = self
            .mail_token_keys
            .open(key_id, sealed)
            .map_err(|reason| NotificationsError::SealedToken {
                event_type: E::EVENT_TYPE,
                reason,
            })?;
        require_token::<E>(&token)?;
        Ok(token)
    }

    /// The mail an event asks for, or `None` for events that send no mail.
    fn compose(&self, envelope: &Envelope) -> Result<Option<Mail>, NotificationsError> {
        if let Some(event) = decode::<EmailVerificationRequested>(envelope) {
            let event = event.map_err(malformed::<EmailVerificationRequested>)?;
            let recipient = parse_recipient::<EmailVerificationRequested>(&event.email)?;
            let token = self.open_token::<EmailVerificationRequested>(
                &event.token_key_id,
                &event.sealed_token,
            )?;
            return Ok(Some(domain::email_verification_mail(
                &self.web_app,
                recipient,
                &event.username,
                &token,
                event.expire_time.as_ref().map(millis_from_timestamp),
            )));
        }
        if let Some(event) = decode::<PasswordResetRequested>(envelope) {
            let event = event.map_err(malformed::<PasswordResetRequested>)?;
            let recipient = parse_recipient::<PasswordResetRequested>(&event.email)?;
            let token = self
                .open_token::<PasswordResetRequested>(&event.token_key_id, &event.sealed_token)?;
            return Ok(Some(domain::password_reset_mail(
                &self.web_app,
                recipient,
                &event.username,
                &token,
            )));
        }
        if let Some(event) = decode::<PasswordChanged>(envelope) {
            let event = event.map_err(malformed::<PasswordChanged>)?;
            let recipient = parse_recipient::<PasswordChanged>(&event.email)?;
            let changed_at = occur_millis(envelope);
            return Ok(Some(domain::password_changed_mail(
                &self.web_app,
                recipient,
                changed_at,
            )));
        }
        Ok(None)
    }

    /// Sends the mail `envelope` asks for, unless it was sent before, and records it in `tx`.
    async fn deliver(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), NotificationsError> {
        keep_address(tx, envelope).await?;
        let Some(mail) = self.compose(envelope)? else {
            return Ok(());
        };
        send_once(
            tx,
            self.mailer.as_ref(),
            &self.sender,
            &envelope.event_id,
            mail,
        )
        .await
    }
}

/// Keeps the address an account event carries: `UserRegistered` (with the username) and
/// `EmailVerified` (the account's verified, possibly new, address).
async fn keep_address(tx: &mut Tx, envelope: &Envelope) -> Result<(), NotificationsError> {
    let (user_id, email, username) = if let Some(event) = decode::<UserRegistered>(envelope) {
        let event = event.map_err(malformed::<UserRegistered>)?;
        let user_id = parse_user_id::<UserRegistered>("user_id", &event.user_id)?;
        let email = parse_recipient::<UserRegistered>(&event.email)?;
        (user_id, email, event.username)
    } else if let Some(event) = decode::<EmailVerified>(envelope) {
        let event = event.map_err(malformed::<EmailVerified>)?;
        let user_id = parse_user_id::<EmailVerified>("user_id", &event.user_id)?;
        let email = parse_recipient::<EmailVerified>(&event.email)?;
        (user_id, email, String::new())
    } else {
        return Ok(());
    };
    let event_time = occur_millis(envelope);
    let user_id = user_id.to_string();
    store::keep_address(
        tx,
        &user_id,
        email.as_str(),
        &username,
        event_time,
        now_millis(),
    )
    .await?;
    tracing::info!(user_id = %user_id, "recipient address kept");
    Ok(())
}

/// When the event occurred (unix millis), or now when the envelope does not say.
pub(crate) fn occur_millis(envelope: &Envelope) -> i64 {
    envelope
        .occur_time
        .as_ref()
        .map(millis_from_timestamp)
        .unwrap_or_else(now_millis)
}

/// Sends `mail` for `event_id` unless `sent_mail` says it went to this recipient before,
/// and records it in `tx`.
pub(crate) async fn send_once(
    tx: &mut Tx,
    mailer: &dyn Mailer,
    sender: &Mailbox,
    event_id: &str,
    mail: Mail,
) -> Result<(), NotificationsError> {
    if store::was_sent(tx, event_id, mail.recipient.as_str()).await? {
        tracing::info!(event_id = %event_id, kind = mail.kind.as_str(), "mail for this event was sent before");
        return Ok(());
    }
    let message = build_message(sender, &mail, event_id)?;
    mailer.send(message).await?;
    store::record_sent_mail(
        tx,
        event_id,
        mail.kind,
        mail.recipient.as_str(),
        now_millis(),
    )
    .await?;
    tracing::info!(event_id = %event_id, kind = mail.kind.as_str(), "mail sent");
    Ok(())
}

#[async_trait]
impl EventHandler for AuthEventsHandler {
    /// Failures are retried or dead-lettered as [`NotificationsError`] says.
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError> {
        Ok(self.deliver(tx, envelope).await?)
    }
}

pub(crate) fn parse_recipient<E: EventMessage>(raw: &str) -> Result<Email, NotificationsError> {
    Email::parse("email", raw).map_err(malformed::<E>)
}

/// A user id of an event of type `E`, in `field`.
pub(crate) fn parse_user_id<E: EventMessage>(
    field: &str,
    raw: &str,
) -> Result<UserId, NotificationsError> {
    UserId::parse(field, raw).map_err(malformed::<E>)
}

fn require_token<E: EventMessage>(token: &str) -> Result<(), NotificationsError> {
    if token.is_empty() {
        Err(malformed::<E>("the token is empty"))
    } else {
        Ok(())
    }
}

pub(crate) fn malformed<E: EventMessage>(reason: impl std::fmt::Display) -> NotificationsError {
    NotificationsError::MalformedEvent {
        event_type: E::EVENT_TYPE,
        reason: reason.to_string(),
    }
}
