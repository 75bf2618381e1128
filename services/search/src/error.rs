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
            SearchError::Index(index_error) if index_error.is_unavailable() => {
                ApiError::Unavailable("the search index is unavailable; retry later".to_owned())
            }
            SearchError::Index(index_error) => ApiError::internal(index_error),
        };
        api_error.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexError;

    #[test]
    fn an_unavailable_engine_is_unavailable_and_other_index_failures_are_internal() {
        let status = Status::from(SearchError::Index(IndexError::unavailable("503")));
        assert_eq!(status.code(), tonic::Code::Unavailable);
        let wrapped = IndexError(
            anyhow::Error::new(crate::index::EngineUnavailable("timeout".to_owned()))
                .context("search the index"),
        );
        assert!(wrapped.is_unavailable());
        let status = Status::from(SearchError::Index(IndexError(anyhow::anyhow!(
            "bad mapping"
        ))));
        assert_eq!(status.code(), tonic::Code::Internal);
    }
}
