//! How the notification service applies auth's events: each mail-worthy event becomes one
//! mail, sent and then recorded in `sent_mail` in the consumer's transaction.
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
use gigmesh_proto::auth::{EmailVerificationRequested, PasswordChanged, PasswordResetRequested};
use gigmesh_types::{Email, millis_from_timestamp, now_millis};
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
            let changed_at = envelope
                .occur_time
                .as_ref()
                .map(millis_from_timestamp)
                .unwrap_or_else(now_millis);
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
        let Some(mail) = self.compose(envelope)? else {
            return Ok(());
        };
        if store::was_sent(tx, &envelope.event_id).await? {
            tracing::info!(event_id = %envelope.event_id, "mail for this event was sent before");
            return Ok(());
        }
        let message = build_message(&self.sender, &mail)?;
        self.mailer.send(message).await?;
        store::record_sent_mail(
            tx,
            &envelope.event_id,
            mail.kind,
            mail.recipient.as_str(),
            now_millis(),
        )
        .await?;
        tracing::info!(
            event_id = %envelope.event_id,
            kind = mail.kind.as_str(),
            "mail sent"
        );
        Ok(())
    }
}

#[async_trait]
impl EventHandler for AuthEventsHandler {
    /// Failures are retried or dead-lettered as [`NotificationsError`] says.
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError> {
        Ok(self.deliver(tx, envelope).await?)
    }
}

fn parse_recipient<E: EventMessage>(raw: &str) -> Result<Email, NotificationsError> {
    Email::parse("email", raw).map_err(malformed::<E>)
}

fn require_token<E: EventMessage>(token: &str) -> Result<(), NotificationsError> {
    if token.is_empty() {
        Err(malformed::<E>("the token is empty"))
    } else {
        Ok(())
    }
}

fn malformed<E: EventMessage>(reason: impl std::fmt::Display) -> NotificationsError {
    NotificationsError::MalformedEvent {
        event_type: E::EVENT_TYPE,
        reason: reason.to_string(),
    }
}
