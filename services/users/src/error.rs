//! Everything the user service can refuse a request with, and its one mapping to a gRPC
//! status.

use gigmesh_db::DbError;
use gigmesh_errors::{ApiError, echoed_prefix};
use tonic::Status;

use crate::domain::ProfileKey;

/// Why a users request failed.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// Invalid input (with field violations) or another shared API error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The caller's account exists but its profile was not created from the event yet.
    #[error("your profile is being created; try again in a few seconds")]
    ProfileBeingCreated,
    /// No visible profile has this user id or username.
    #[error("{}", describe_missing(.0))]
    ProfileNotFound(ProfileKey),
    /// BecomeSeller was called by a seller.
    #[error("you are already a seller; change the seller profile with UpdateMySellerProfile")]
    AlreadySeller,
    /// A seller-only change was asked by a non-seller.
    #[error("you are not a seller; become one with BecomeSeller first")]
    NotSeller,
    /// The account is suspended, so its profile cannot change.
    #[error("the account is suspended; its profile cannot be changed")]
    Suspended,
    /// A database failure, including a read-modify-write that lost every race
    /// ([`DbError::ConcurrentChange`], `ABORTED`).
    #[error(transparent)]
    Db(#[from] DbError),
    /// Anything else unexpected.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn describe_missing(key: &ProfileKey) -> String {
    match key {
        ProfileKey::UserId(user_id) => format!("no profile for user {user_id}"),
        ProfileKey::Username(username) => {
            format!("no profile with username {:?}", echoed_prefix(username))
        }
    }
}

impl From<UsersError> for ApiError {
    fn from(error: UsersError) -> Self {
        let message = error.to_string();
        match error {
            UsersError::Api(api) => api,
            UsersError::ProfileBeingCreated | UsersError::ProfileNotFound(_) => {
                ApiError::NotFound(message)
            }
            UsersError::AlreadySeller => ApiError::AlreadyExists(message),
            UsersError::NotSeller | UsersError::Suspended => ApiError::FailedPrecondition(message),
            UsersError::Db(db) => ApiError::from(db),
            UsersError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<UsersError> for Status {
    fn from(error: UsersError) -> Self {
        Status::from(ApiError::from(error))
    }
}

#[cfg(test)]
mod tests {
    use gigmesh_types::UserId;
    use tonic::Code;

    use super::*;

    #[test]
    fn missing_profiles_say_how_they_were_looked_up() {
        let user_id = UserId::new();
        let status = Status::from(UsersError::ProfileNotFound(ProfileKey::UserId(user_id)));
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), format!("no profile for user {user_id}"));
        let status = Status::from(UsersError::ProfileNotFound(ProfileKey::Username(
            "ada".to_owned(),
        )));
        assert_eq!(status.message(), "no profile with username \"ada\"");
    }

    #[test]
    fn a_lost_race_is_aborted_and_invites_a_retry() {
        let status = Status::from(UsersError::from(DbError::ConcurrentChange));
        assert_eq!(status.code(), Code::Aborted);
        assert!(status.message().contains("retry"), "{status:?}");
    }
}
