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
    /// The mail could not be built or sent.
    #[error(transparent)]
    Mailer(#[from] MailerError),
    /// A database failure.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Malformed events, unbuildable mails and mails the server rejected for good never succeed
/// (dead-lettered at once); other transport failures and database failures are retried.
impl From<NotificationsError> for HandlerError {
    fn from(error: NotificationsError) -> Self {
        match error {
            NotificationsError::MalformedEvent { .. }
            | NotificationsError::SealedToken { .. }
            | NotificationsError::Mailer(MailerError::Build(_) | MailerError::Rejected(_)) => {
                HandlerError::permanent(error)
            }
            NotificationsError::Mailer(MailerError::Send(_)) | NotificationsError::Db(_) => {
                HandlerError::transient(error)
            }
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
