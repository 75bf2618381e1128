//! Everything handling a notification event can fail with.

use gigmesh_db::DbError;

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
    /// The mail could not be built or sent.
    #[error(transparent)]
    Mailer(#[from] MailerError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] DbError),
}
