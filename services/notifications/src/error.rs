//! Everything turning an event into a sent mail can fail with, and whether the consumer
//! retries it.

use gigmesh_db::DbError;
use gigmesh_events::HandlerError;

use crate::mail_token::OpenError;
use crate::mailer::MailerError;

/// A failure to turn an event into a sent mail.
#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    /// The event cannot be decoded or lacks what the mail needs; retrying will not help.
    #[error("malformed {event_type} event: {reason}")]
    MalformedEvent {
        /// The event's type.
        event_type: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The event's token does not open with the keys this service holds (sealed to another
    /// key, or altered); retrying will not help, and no mail is sent.
    #[error("{event_type} event: {reason}")]
    SealedToken {
        /// The event's type.
        event_type: &'static str,
        /// Why it did not open.
        reason: OpenError,
    },
    /// No address is known yet for a user the event mails: auth's `UserRegistered` for them
    /// has not been applied. It is retried, so the mail waits for the address; after the
    /// consumer's attempts it is dead-lettered with this message.
    #[error(
        "no email address is known yet for user {user_id}, the {party} of the {event_type} \
         event (auth's UserRegistered for them has not arrived)"
    )]
    RecipientUnknown {
        /// The event's type.
        event_type: &'static str,
        /// The user to be mailed.
        user_id: String,
        /// Who they are in the event (`buyer` or `seller`).
        party: &'static str,
    },
    /// The mail could not be built or sent.
    #[error(transparent)]
    Mailer(#[from] MailerError),
    /// A database failure.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Malformed events, unbuildable mails and mails the server rejected for good never succeed
/// (dead-lettered at once); other transport failures, database failures and recipients
/// whose address has not arrived yet are retried.
impl From<NotificationsError> for HandlerError {
    fn from(error: NotificationsError) -> Self {
        match error {
            NotificationsError::MalformedEvent { .. }
            | NotificationsError::SealedToken { .. }
            | NotificationsError::Mailer(MailerError::Build(_) | MailerError::Rejected(_)) => {
                HandlerError::permanent(error)
            }
            NotificationsError::Mailer(MailerError::Send(_))
            | NotificationsError::Db(_)
            | NotificationsError::RecipientUnknown { .. } => HandlerError::transient(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler_error(error: MailerError) -> HandlerError {
        NotificationsError::Mailer(error).into()
    }

    #[test]
    fn an_unknown_recipient_is_retried() {
        let error: HandlerError = NotificationsError::RecipientUnknown {
            event_type: "gigmesh.orders.v1.OrderChanged",
            user_id: "0190".to_owned(),
            party: "seller",
        }
        .into();
        assert!(matches!(error, HandlerError::Transient(_)));
        assert!(
            error.to_string().contains("user 0190, the seller"),
            "{error}"
        );
    }

    #[test]
    fn rejected_and_unbuildable_mails_are_permanent_other_send_failures_transient() {
        assert!(matches!(
            handler_error(MailerError::Rejected("550 5.1.1 no such user".to_owned())),
            HandlerError::Permanent(_)
        ));
        assert!(matches!(
            handler_error(MailerError::Build("bad address".to_owned())),
            HandlerError::Permanent(_)
        ));
        assert!(matches!(
            handler_error(MailerError::Send("451 4.3.0 try later".to_owned())),
            HandlerError::Transient(_)
        ));
    }
}
