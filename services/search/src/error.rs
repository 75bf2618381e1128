//! Everything the search service can fail with, and its one mapping to a gRPC status.

use gigmesh_errors::{ApiError, FieldViolation};
use tonic::Status;

use crate::index::IndexError;

/// A failure of a search operation.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The request has invalid fields.
    #[error("invalid argument")]
    InvalidArgument(Vec<FieldViolation>),
    /// The gig is not in the index (unknown, or not visible).
    #[error("no visible gig {0}")]
    GigNotFound(String),
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl From<ApiError> for SearchError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::InvalidArgument(violations) => SearchError::InvalidArgument(violations),
            other => SearchError::InvalidArgument(vec![FieldViolation::new(
                "request",
                other.to_string(),
            )]),
        }
    }
}

impl From<SearchError> for Status {
    fn from(error: SearchError) -> Self {
        let message = error.to_string();
        let api_error = match error {
            SearchError::InvalidArgument(violations) => ApiError::InvalidArgument(violations),
            SearchError::GigNotFound(_) => ApiError::NotFound(message),
            SearchError::Index(index_error) => ApiError::internal(index_error),
        };
        api_error.into()
    }
}
