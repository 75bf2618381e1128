//! Everything the user service can fail with, and its one mapping to a gRPC status.

use gigmesh_db::DbError;
use gigmesh_errors::{ApiError, FieldViolation};
use tonic::Status;

/// A failure of a users operation.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// The request has invalid fields.
    #[error("invalid argument")]
    InvalidArgument(Vec<FieldViolation>),
    /// The caller's account exists but its profile was not created from the event yet.
    #[error("your profile is being created; try again in a few seconds")]
    ProfileBeingCreated,
    /// No visible profile matches.
    #[error("{0}")]
    ProfileNotFound(String),
    /// BecomeSeller was called by a seller.
    #[error("you are already a seller; change the seller profile with UpdateMySellerProfile")]
    AlreadySeller,
    /// A seller-only change was asked by a non-seller.
    #[error("you are not a seller; become one with BecomeSeller first")]
    NotSeller,
    /// The account is suspended, so its profile cannot change.
    #[error("the account is suspended; its profile cannot be changed")]
    Suspended,
    /// The profile kept changing under a read-modify-write.
    #[error("the profile was changed by another request at the same time; retry")]
    ConcurrentChange,
    /// The call carries no valid caller.
    #[error("sign in first: this call needs an access token")]
    Unauthenticated,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] DbError),
}

impl From<UsersError> for Status {
    fn from(error: UsersError) -> Self {
        let message = error.to_string();
        let api_error = match error {
            UsersError::InvalidArgument(violations) => ApiError::InvalidArgument(violations),
            UsersError::ProfileBeingCreated | UsersError::ProfileNotFound(_) => {
                ApiError::NotFound(message)
            }
            UsersError::AlreadySeller => ApiError::AlreadyExists(message),
            UsersError::NotSeller | UsersError::Suspended => ApiError::FailedPrecondition(message),
            // Aborted is the code AIP-193 gives to concurrency conflicts; the shared error set
            // has no variant for it, so it is built here.
            UsersError::ConcurrentChange => return Status::aborted(message),
            UsersError::Unauthenticated => ApiError::Unauthenticated(message),
            UsersError::Store(db_error) => ApiError::from(db_error),
        };
        api_error.into()
    }
}
