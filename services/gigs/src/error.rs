//! Everything the gig service can fail with, and its one mapping to a gRPC status.

use gigmesh_db::DbError;
use gigmesh_errors::ApiError;
use tonic::Status;

use crate::domain::GigState;

/// A failure of a gigs operation.
#[derive(Debug, thiserror::Error)]
pub enum GigsError {
    /// Invalid input (with field violations) or another shared API error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No gig the caller may see has this id or slug.
    #[error("gig {0} not found")]
    GigNotFound(String),
    /// Someone other than the owner tried to change a gig.
    #[error("only the gig's owner may change it")]
    NotOwner,
    /// The call needs the seller role.
    #[error("seller role required: become a seller first")]
    SellerRequired,
    /// The call needs the admin role.
    #[error("admin role required")]
    AdminRequired,
    /// The transition is not allowed in the gig's current state.
    #[error("cannot {action} a gig in state {}", .state.as_str())]
    WrongState {
        /// What was asked.
        action: &'static str,
        /// The state the gig is in.
        state: GigState,
    },
    /// The gig lacks what publishing needs.
    #[error("{action}: missing {}", .missing.join(", "))]
    Incomplete {
        /// What was refused.
        action: &'static str,
        /// The missing fields.
        missing: Vec<&'static str>,
    },
    /// The gig kept changing under a read-modify-write.
    #[error("the gig was changed by another request at the same time; retry")]
    ConcurrentChange,
    /// The call carries no valid caller.
    #[error("sign in first: this call needs an access token")]
    Unauthenticated,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] DbError),
    /// Anything else unexpected.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<GigsError> for Status {
    fn from(error: GigsError) -> Self {
        let message = error.to_string();
        let api_error = match error {
            GigsError::Api(api_error) => api_error,
            GigsError::GigNotFound(_) => ApiError::NotFound(message),
            GigsError::NotOwner | GigsError::SellerRequired | GigsError::AdminRequired => {
                ApiError::PermissionDenied(message)
            }
            GigsError::WrongState { .. } | GigsError::Incomplete { .. } => {
                ApiError::FailedPrecondition(message)
            }
            // Aborted is the code AIP-193 gives to concurrency conflicts; the shared error set
            // has no variant for it, so it is built here.
            GigsError::ConcurrentChange => return Status::aborted(message),
            GigsError::Unauthenticated => ApiError::Unauthenticated(message),
            GigsError::Store(db_error) => ApiError::from(db_error),
            GigsError::Internal(cause) => ApiError::Internal(cause),
        };
        api_error.into()
    }
}
