//! Everything the chat service can refuse a request with, and its one mapping to a gRPC
//! status.

use std::time::Duration;

use gigmesh_db::DbError;
use gigmesh_errors::ApiError;
use gigmesh_streams::OpenError;
use tonic::Status;

use crate::domain::offer::OfferState;

/// Why a chat request failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// Invalid input (with field violations) or another shared API error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No conversation the caller takes part in has this id.
    #[error("conversation {0} not found")]
    ConversationNotFound(String),
    /// No offer of a conversation the caller takes part in has this id.
    #[error("custom offer {0} not found")]
    OfferNotFound(String),
    /// No message of the conversation has this id.
    #[error("message {0} not found")]
    MessageNotFound(String),
    /// Chat knows no seller with this id (a seller with no gig).
    #[error("seller {0} not found")]
    SellerNotFound(String),
    /// Chat knows no published gig with this id (of this seller, for an offer).
    #[error("gig {0} not found")]
    GigNotFound(String),
    /// A user tried to start a conversation with themselves.
    #[error("you cannot start a conversation with yourself")]
    OwnConversation,
    /// The gig cannot be offered now; the text says why.
    #[error("{0}")]
    GigUnavailable(String),
    /// The recipient blocks the sender.
    #[error("this user does not accept your messages")]
    BlockedByRecipient,
    /// The sender blocks the recipient.
    #[error("you block this user: unblock them to write to them")]
    BlockingRecipient,
    /// The caller is a participant but not the one the call is for.
    #[error("{0}")]
    WrongParty(&'static str),
    /// The offer is no longer pending.
    #[error("the custom offer is {}, not pending", .0.as_str())]
    OfferNotPending(OfferState),
    /// The offer's price is not in the gig's currency.
    #[error("the price must be in the gig's currency, {0}")]
    WrongCurrency(String),
    /// The caller sent too many messages in the last minute.
    #[error("you sent {limit} messages in the last minute: wait {} s", .retry_after.as_secs().max(1))]
    TooManyMessages {
        /// The limit per minute.
        limit: u32,
        /// Until the oldest message of the minute leaves it.
        retry_after: Duration,
    },
    /// A stream cannot open: a resume token of another user's stream or not one this server
    /// issued, or one whose events are no longer kept.
    #[error(transparent)]
    Stream(#[from] OpenError),
    /// A database failure; a read-modify-write that kept losing the race is
    /// [`DbError::ConcurrentChange`], which the caller may retry.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Anything else unexpected.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<ChatError> for ApiError {
    fn from(error: ChatError) -> Self {
        let message = error.to_string();
        match error {
            ChatError::Api(api) => api,
            ChatError::ConversationNotFound(_)
            | ChatError::OfferNotFound(_)
            | ChatError::MessageNotFound(_)
            | ChatError::SellerNotFound(_)
            | ChatError::GigNotFound(_) => ApiError::NotFound(message),
            ChatError::WrongParty(_) => ApiError::PermissionDenied(message),
            ChatError::OwnConversation
            | ChatError::GigUnavailable(_)
            | ChatError::BlockedByRecipient
            | ChatError::BlockingRecipient
            | ChatError::OfferNotPending(_) => ApiError::FailedPrecondition(message),
            ChatError::WrongCurrency(_) => ApiError::invalid("price.currency", message),
            ChatError::Stream(OpenError::BadResumeToken(reason)) => {
                ApiError::invalid("resume_token", reason)
            }
            ChatError::Stream(OpenError::ResumeTooOld) => ApiError::FailedPrecondition(message),
            ChatError::Stream(OpenError::Db(db)) => ApiError::from(db),
            ChatError::TooManyMessages { retry_after, .. } => ApiError::RetryLater {
                message,
                retry_after,
            },
            ChatError::Db(db) => ApiError::from(db),
            ChatError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<ChatError> for Status {
    fn from(error: ChatError) -> Self {
        Status::from(ApiError::from(error))
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic_types::StatusExt as _;

    use super::*;

    #[test]
    fn refusals_say_what_the_caller_can_do() {
        let status = Status::from(ChatError::OfferNotPending(OfferState::Withdrawn));
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status.message(),
            "the custom offer is withdrawn, not pending"
        );
        let status = Status::from(ChatError::TooManyMessages {
            limit: 30,
            retry_after: Duration::from_secs(12),
        });
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "you sent 30 messages in the last minute: wait 12 s"
        );
        assert_eq!(
            status
                .get_details_retry_info()
                .and_then(|retry| retry.retry_delay),
            Some(Duration::from_secs(12))
        );
        let status = Status::from(ChatError::from(OpenError::BadResumeToken(
            "is not one of your events",
        )));
        assert_eq!(status.code(), Code::InvalidArgument);
        let status = Status::from(ChatError::ConversationNotFound("c".to_owned()));
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "conversation c not found");
        let status = Status::from(ChatError::from(DbError::ConcurrentChange));
        assert_eq!(status.code(), Code::Aborted);
    }
}
