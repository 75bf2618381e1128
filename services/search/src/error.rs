//! Everything the search service can fail with, and its one mapping to an API error (and so
//! to a gRPC status).

use gigmesh_db::DbError;
use gigmesh_errors::ApiError;
use gigmesh_types::GigId;
use tonic::Status;

use crate::index::IndexError;
use crate::snapshot::SnapshotError;

/// Why a search request, or keeping the index in line with the stored snapshots, failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// Invalid input (with field violations) or another shared API error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The gig is not in the index (unknown, or not visible).
    #[error("no visible gig {0}")]
    GigNotFound(GigId),
    /// The snapshot stored for a gig cannot become a document.
    #[error("stored snapshot of gig {gig_id}: {reason}")]
    StoredSnapshot {
        /// The gig whose row it is.
        gig_id: GigId,
        /// What is wrong with it.
        #[source]
        reason: SnapshotError,
    },
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A database failure.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Anything else unexpected.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<SearchError> for ApiError {
    fn from(error: SearchError) -> Self {
        let message = error.to_string();
        match error {
            SearchError::Api(api) => api,
            SearchError::GigNotFound(_) => ApiError::NotFound(message),
            SearchError::Index(index_error) if index_error.is_unavailable() => {
                ApiError::Unavailable("the search index is unavailable; retry later".to_owned())
            }
            SearchError::Index(index_error) => ApiError::internal(index_error),
            SearchError::StoredSnapshot { gig_id, reason } => ApiError::Internal(
                anyhow::Error::new(reason).context(format!("stored snapshot of gig {gig_id}")),
            ),
            SearchError::Db(db) => ApiError::from(db),
            SearchError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<SearchError> for Status {
    fn from(error: SearchError) -> Self {
        Status::from(ApiError::from(error))
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

    #[test]
    fn an_api_error_keeps_its_own_code() {
        let status = Status::from(SearchError::from(ApiError::Unavailable("down".to_owned())));
        assert_eq!(status.code(), tonic::Code::Unavailable);
        let status = Status::from(SearchError::from(ApiError::invalid("query", "too long")));
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let status = Status::from(SearchError::GigNotFound(GigId::new()));
        assert_eq!(status.code(), tonic::Code::NotFound);
    }
}
