//! Everything the gig service can refuse a request with, and its one mapping to a gRPC
//! status.

use gigmesh_db::DbError;
use gigmesh_errors::ApiError;
use tonic::Status;

use crate::domain::GigState;

/// Why a gigs request failed.
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
    /// The seller holds as many gigs (not deleted) as the cap allows.
    #[error(
        "a seller may hold at most {limit} gigs that are not deleted: delete one to create another"
    )]
    TooManyGigs {
        /// The cap (`gigs.settings.max_gigs_per_seller`).
        limit: u32,
    },
    /// A database failure; a read-modify-write that kept losing the race is
    /// [`DbError::ConcurrentChange`], which the caller may retry.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Anything else unexpected.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<GigsError> for ApiError {
    fn from(error: GigsError) -> Self {
        let message = error.to_string();
        match error {
            GigsError::Api(api) => api,
            GigsError::GigNotFound(_) => ApiError::NotFound(message),
            GigsError::NotOwner | GigsError::SellerRequired | GigsError::AdminRequired => {
                ApiError::PermissionDenied(message)
            }
            GigsError::WrongState { .. }
            | GigsError::Incomplete { .. }
            | GigsError::TooManyGigs { .. } => ApiError::FailedPrecondition(message),
            GigsError::Db(db) => ApiError::from(db),
            GigsError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<GigsError> for Status {
    fn from(error: GigsError) -> Self {
        Status::from(ApiError::from(error))
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn a_lost_race_is_aborted_for_the_caller_to_retry() {
        let status = Status::from(GigsError::from(DbError::ConcurrentChange));
        assert_eq!(status.code(), Code::Aborted);
        assert!(status.message().contains("retry"), "{status:?}");
    }

    #[test]
    fn refusals_name_the_state_or_what_is_missing() {
        let status = Status::from(GigsError::WrongState {
            action: "pause",
            state: GigState::Paused,
        });
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "cannot pause a gig in state paused");
        let status = Status::from(GigsError::Incomplete {
            action: "cannot publish",
            missing: vec!["description", "gallery (an image)"],
        });
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status.message(),
            "cannot publish: missing description, gallery (an image)"
        );
        let status = Status::from(GigsError::TooManyGigs { limit: 3 });
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status.message(),
            "a seller may hold at most 3 gigs that are not deleted: delete one to create another"
        );
    }
}
