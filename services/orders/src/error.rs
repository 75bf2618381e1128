//! Everything the order service can refuse a request with, and its one mapping to a gRPC
//! status.

use gigmesh_db::DbError;
use gigmesh_errors::ApiError;
use tonic::Status;

use crate::domain::OrderState;

/// Why an orders request failed.
#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    /// Invalid input (with field violations) or another shared API error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No order the caller may see has this id.
    #[error("order {0} not found")]
    OrderNotFound(String),
    /// Orders knows no gig with this id.
    #[error("gig {0} not found")]
    GigNotFound(String),
    /// The gig cannot be ordered now; the text says why.
    #[error("{0}")]
    GigUnavailable(String),
    /// The buyer is the gig's seller.
    #[error("you cannot order your own gig")]
    OwnGig,
    /// The caller is a party of the order (or an admin) but not the one the call is for.
    #[error("{0}")]
    WrongParty(&'static str),
    /// The call needs the admin role.
    #[error("admin role required")]
    AdminRequired,
    /// The transition is not allowed in the order's current state.
    #[error("cannot {action} an order in state {}", .state.as_str())]
    WrongState {
        /// What was asked, e.g. "accept the delivery of".
        action: &'static str,
        /// The state the order is in.
        state: OrderState,
    },
    /// Every revision of the package was asked already.
    #[error(
        "the package's {included} revisions are used up: accept the delivery, ask for a mutual cancellation or open a dispute"
    )]
    RevisionsUsedUp {
        /// Revisions the package includes.
        included: i32,
    },
    /// A request of this kind waits for its answer already.
    #[error("{0}")]
    RequestPending(&'static str),
    /// There is no request of this kind to answer.
    #[error("{0}")]
    NoPendingRequest(&'static str),
    /// The requester tried to answer their own cancellation request.
    #[error("you asked for this cancellation: the other side answers it")]
    OwnRequest,
    /// The buyer tried to cancel an order in progress before it was late long enough.
    #[error(
        "cannot cancel an order in state in_progress alone until {after_hours} hours after its due time undelivered: ask for a mutual cancellation instead"
    )]
    NotLateEnough {
        /// Hours past the due time (`orders.settings.late_cancel_after_seconds`).
        after_hours: i64,
    },
    /// A database failure; a read-modify-write that kept losing the race is
    /// [`DbError::ConcurrentChange`], which the caller may retry.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Anything else unexpected.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<OrdersError> for ApiError {
    fn from(error: OrdersError) -> Self {
        let message = error.to_string();
        match error {
            OrdersError::Api(api) => api,
            OrdersError::OrderNotFound(_) | OrdersError::GigNotFound(_) => {
                ApiError::NotFound(message)
            }
            OrdersError::WrongParty(_) | OrdersError::AdminRequired => {
                ApiError::PermissionDenied(message)
            }
            OrdersError::GigUnavailable(_)
            | OrdersError::OwnGig
            | OrdersError::WrongState { .. }
            | OrdersError::RevisionsUsedUp { .. }
            | OrdersError::RequestPending(_)
            | OrdersError::NoPendingRequest(_)
            | OrdersError::OwnRequest
            | OrdersError::NotLateEnough { .. } => ApiError::FailedPrecondition(message),
            OrdersError::Db(db) => ApiError::from(db),
            OrdersError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<OrdersError> for Status {
    fn from(error: OrdersError) -> Self {
        Status::from(ApiError::from(error))
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn a_lost_race_is_aborted_for_the_caller_to_retry() {
        let status = Status::from(OrdersError::from(DbError::ConcurrentChange));
        assert_eq!(status.code(), Code::Aborted);
        assert!(status.message().contains("retry"), "{status:?}");
    }

    #[test]
    fn refusals_name_the_state_or_the_party() {
        let status = Status::from(OrdersError::WrongState {
            action: "accept the delivery of",
            state: OrderState::InProgress,
        });
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status.message(),
            "cannot accept the delivery of an order in state in_progress"
        );
        let status = Status::from(OrdersError::WrongParty(
            "only the order's seller may deliver it",
        ));
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(status.message(), "only the order's seller may deliver it");
        let status = Status::from(OrdersError::OrderNotFound("x".to_owned()));
        assert_eq!(status.code(), Code::NotFound);
        let status = Status::from(OrdersError::RevisionsUsedUp { included: 2 });
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(
            status
                .message()
                .starts_with("the package's 2 revisions are used up")
        );
    }
}
