//! Everything the auth service can refuse a request with, and its one mapping to a gRPC
//! status.

use std::time::Duration;

use gigmesh_db::DbError;
use gigmesh_errors::ApiError;
use gigmesh_types::{SessionId, UserId};
use tonic::Status;

use crate::credentials::{HASHING_RETRY_AFTER, HashingError};

/// Why an auth request failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Invalid input (with field violations) or another shared API error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Sign-up with an email address that has an account.
    #[error("an account with this email address already exists")]
    EmailTaken,
    /// Sign-up with a username that is taken (in any letter case).
    #[error("this username is taken")]
    UsernameTaken,
    /// Unknown log-in name or wrong password; the two are never told apart.
    #[error("invalid login or password")]
    InvalidCredentials,
    /// The password checked out but the email address is not verified yet.
    #[error(
        "email address not verified: follow the link in the verification mail, or ask for a new one with ResendVerificationEmail"
    )]
    EmailNotVerified,
    /// The password checked out but an admin suspended the account.
    #[error("account suspended")]
    AccountSuspended,
    /// Too many failed log-ins for the account or from the client address.
    #[error("too many failed log-ins: retry in {} seconds", retry_seconds(*.retry_after))]
    TooManyFailedLogIns {
        /// How long until an attempt is allowed again.
        retry_after: Duration,
    },
    /// Every password-hashing slot is busy and the queue is full.
    #[error(
        "too many passwords are being checked right now: retry in {} seconds",
        retry_seconds(HASHING_RETRY_AFTER)
    )]
    HashingAtCapacity,
    /// The refresh token is unknown or expired.
    #[error("refresh token is not valid: log in again")]
    InvalidRefreshToken,
    /// A spent refresh token was presented again; its session is revoked.
    #[error("refresh token was already used: the session is revoked, log in again")]
    RefreshTokenReused,
    /// The session of the token was revoked.
    #[error("session ended: log in again")]
    SessionEnded,
    /// A mailed token (verification or reset) is unknown, expired or spent.
    #[error("{field}: is not valid: it is unknown, expired or already used; ask for a new one")]
    InvalidMailedToken {
        /// The request field that carried it.
        field: &'static str,
    },
    /// The current password given to ChangePassword is wrong.
    #[error("current_password: does not match the current password")]
    WrongCurrentPassword,
    /// No session of the caller has this id.
    #[error("session {0} not found")]
    SessionNotFound(SessionId),
    /// No account has this id.
    #[error("account {0} not found")]
    AccountNotFound(UserId),
    /// The call needs the admin role.
    #[error("admin role required")]
    AdminRequired,
    /// An admin tried to suspend their own account.
    #[error("you cannot suspend your own account")]
    CannotSuspendOwnAccount,
    /// A database failure.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Anything else unexpected.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Whole seconds to wait, rounded up so that a client retrying on time is let through.
fn retry_seconds(retry_after: Duration) -> u64 {
    retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)
}

impl From<sqlx::Error> for AuthError {
    fn from(error: sqlx::Error) -> Self {
        Self::Db(DbError::from(error))
    }
}

impl From<HashingError> for AuthError {
    fn from(error: HashingError) -> Self {
        match error {
            HashingError::AtCapacity => Self::HashingAtCapacity,
            HashingError::Failed(cause) => Self::Internal(cause),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let message = error.to_string();
        match error {
            AuthError::Api(api) => api,
            AuthError::EmailTaken | AuthError::UsernameTaken => ApiError::AlreadyExists(message),
            AuthError::InvalidCredentials
            | AuthError::InvalidRefreshToken
            | AuthError::RefreshTokenReused
            | AuthError::SessionEnded => ApiError::Unauthenticated(message),
            AuthError::EmailNotVerified => ApiError::FailedPrecondition(message),
            AuthError::AccountSuspended | AuthError::AdminRequired => {
                ApiError::PermissionDenied(message)
            }
            AuthError::CannotSuspendOwnAccount => ApiError::FailedPrecondition(message),
            // The wait travels both in the message and as google.rpc.RetryInfo.
            AuthError::TooManyFailedLogIns { retry_after } => ApiError::RetryLater {
                message,
                retry_after: Duration::from_secs(retry_seconds(retry_after)),
            },
            AuthError::HashingAtCapacity => ApiError::RetryLater {
                message,
                retry_after: Duration::from_secs(retry_seconds(HASHING_RETRY_AFTER)),
            },
            AuthError::InvalidMailedToken { field } => ApiError::invalid(
                field,
                "is not valid: it is unknown, expired or already used; ask for a new one",
            ),
            AuthError::WrongCurrentPassword => {
                ApiError::invalid("current_password", "does not match the current password")
            }
            AuthError::SessionNotFound(_) | AuthError::AccountNotFound(_) => {
                ApiError::NotFound(message)
            }
            AuthError::Db(db) => ApiError::from(db),
            AuthError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<AuthError> for Status {
    fn from(error: AuthError) -> Self {
        Status::from(ApiError::from(error))
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic_types::StatusExt as _;

    use super::*;

    #[test]
    fn throttling_carries_a_retry_hint() {
        let status = Status::from(AuthError::TooManyFailedLogIns {
            retry_after: Duration::from_millis(1_500),
        });
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("retry in 2 seconds"));
        let retry = status.get_details_retry_info().expect("retry info");
        assert_eq!(retry.retry_delay, Some(Duration::from_secs(2)));
    }

    #[test]
    fn hashing_at_capacity_carries_a_retry_hint() {
        let status = Status::from(AuthError::HashingAtCapacity);
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(
            status.message().contains("retry in 1 seconds"),
            "{status:?}"
        );
        let retry = status.get_details_retry_info().expect("retry info");
        assert_eq!(retry.retry_delay, Some(HASHING_RETRY_AFTER));
    }

    #[test]
    fn unknown_account_and_wrong_password_read_the_same() {
        let status = Status::from(AuthError::InvalidCredentials);
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), "invalid login or password");
    }

    #[test]
    fn mailed_token_errors_name_the_field() {
        let status = Status::from(AuthError::InvalidMailedToken { field: "token" });
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let violations = &details.bad_request().expect("bad request").field_violations;
        assert_eq!(violations[0].field, "token");
    }
}
