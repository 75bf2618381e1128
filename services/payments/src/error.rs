//! Everything the payment service can refuse a request with, and its one mapping to a
//! gRPC status.

use gigmesh_db::DbError;
use gigmesh_errors::ApiError;
use gigmesh_payment_provider::ProviderError;
use tonic::Status;

use crate::ledger::LedgerError;

/// Why a payments request failed.
#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    /// Invalid input (with field violations) or another shared API error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Nothing the caller may see has this id.
    #[error("{0} not found")]
    NotFound(String),
    /// The call needs a role the caller lacks.
    #[error("{0} role required")]
    RoleRequired(&'static str),
    /// Refused in the current state (named in the message).
    #[error("{0}")]
    Precondition(String),
    /// The provider refused the request as made.
    #[error("the payment provider refused the request: {0}")]
    ProviderRefused(String),
    /// The provider cannot be reached; the call may be retried.
    #[error("the payment provider is unavailable, retry later")]
    ProviderUnavailable,
    /// A transaction that does not balance: a bug, never written.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A database failure.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Anything else unexpected.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for PaymentsError {
    fn from(error: sqlx::Error) -> Self {
        Self::Db(error.into())
    }
}

impl From<ProviderError> for PaymentsError {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::Refused(message) => Self::ProviderRefused(message),
            ProviderError::Unavailable(message) => {
                tracing::warn!(error = %message, "payment provider unavailable");
                Self::ProviderUnavailable
            }
            ProviderError::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl From<PaymentsError> for ApiError {
    fn from(error: PaymentsError) -> Self {
        let message = error.to_string();
        match error {
            PaymentsError::Api(api) => api,
            PaymentsError::NotFound(_) => ApiError::NotFound(message),
            PaymentsError::RoleRequired(_) => ApiError::PermissionDenied(message),
            PaymentsError::Precondition(_) | PaymentsError::ProviderRefused(_) => {
                ApiError::FailedPrecondition(message)
            }
            PaymentsError::ProviderUnavailable => ApiError::Unavailable(message),
            PaymentsError::Ledger(cause) => ApiError::internal(cause),
            PaymentsError::Db(db) => ApiError::from(db),
            PaymentsError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<PaymentsError> for Status {
    fn from(error: PaymentsError) -> Self {
        Status::from(ApiError::from(error))
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn an_unbalanced_transaction_is_internal_and_a_refusal_names_the_state() {
        let status = Status::from(PaymentsError::from(LedgerError::Degenerate { kind: "x" }));
        assert_eq!(status.code(), Code::Internal);
        let status = Status::from(PaymentsError::Precondition(
            "the order is in state completed".to_owned(),
        ));
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(status.message().contains("completed"));
    }
}
