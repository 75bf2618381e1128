//! Database failures, classified once for every service.

use gigmesh_errors::ApiError;
use sqlx::error::ErrorKind;

use crate::pool::redact_url;

/// What went wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A unique constraint rejected the write. `constraint` is the constraint name on
    /// PostgreSQL (e.g. `users_email_key`) and the failing columns on SQLite (e.g.
    /// `users.email`), so a substring such as `email` identifies it on both.
    #[error("unique constraint violated{}", describe_constraint(.constraint))]
    UniqueViolation {
        /// Which constraint, when the database says.
        constraint: Option<String>,
    },
    /// A foreign key constraint rejected the write (the referenced row does not exist, or
    /// rows still reference the one being deleted).
    #[error("foreign key constraint violated{}", describe_constraint(.constraint))]
    ForeignKeyViolation {
        /// Which constraint, when the database says (PostgreSQL only).
        constraint: Option<String>,
    },
    /// The database cannot be reached or has no free connection; retrying later may work.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The connection URL cannot be used.
    #[error("invalid database url {url}: {reason}")]
    InvalidUrl {
        /// The URL, without its password.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A read-modify-write lost the race to other writers every time it was tried
    /// ([`read_modify_write`](crate::read_modify_write)); the whole call may be retried.
    #[error("changed by another request at the same time; retry")]
    ConcurrentChange,
    /// A migration could not be applied.
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database failure.
    #[error("database error")]
    Other(#[source] sqlx::Error),
}

fn describe_constraint(constraint: &Option<String>) -> String {
    constraint
        .as_deref()
        .map(|name| format!(" ({name})"))
        .unwrap_or_default()
}

impl DbError {
    /// Whether this is a unique violation of a constraint whose name (PostgreSQL) or column
    /// list (SQLite) contains `needle`.
    pub fn is_unique_violation_on(&self, needle: &str) -> bool {
        matches!(self, Self::UniqueViolation { constraint: Some(name) } if name.contains(needle))
    }

    pub(crate) fn connect(url: &str, error: sqlx::Error) -> Self {
        tracing::warn!(url = %redact_url(url), error = %error, "cannot connect to database");
        Self::from(error)
    }
}

impl From<sqlx::Error> for DbError {
    fn from(error: sqlx::Error) -> Self {
        if let Some(database_error) = error.as_database_error() {
            let constraint = database_error
                .constraint()
                .map(str::to_owned)
                .or_else(|| sqlite_constraint_columns(database_error.message()));
            match database_error.kind() {
                ErrorKind::UniqueViolation => return Self::UniqueViolation { constraint },
                ErrorKind::ForeignKeyViolation => return Self::ForeignKeyViolation { constraint },
                _ => {}
            }
            if is_transient(database_error.code().as_deref()) {
                return Self::Unavailable(error);
            }
            return Self::Other(error);
        }
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(error),
            other => Self::Other(other),
        }
    }
}

/// SQLite names no constraint; its message does: "UNIQUE constraint failed: users.email".
fn sqlite_constraint_columns(message: &str) -> Option<String> {
    let (_, columns) = message.split_once("constraint failed: ")?;
    Some(columns.trim().to_owned())
}

/// Error codes that mean "try again later" rather than "this statement is wrong".
fn is_transient(code: Option<&str>) -> bool {
    match code {
        // SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6), also with extended codes.
        Some(code)
            if code
                .parse::<u32>()
                .is_ok_and(|code| matches!(code & 0xff, 5 | 6)) =>
        {
            true
        }
        // PostgreSQL: connection exceptions (08), operator intervention such as shutdown
        // (57P0x), insufficient resources (53), serialization failure and deadlock.
        Some(code) => {
            code.starts_with("08")
                || code.starts_with("57P0")
                || code.starts_with("53")
                || code == "40001"
                || code == "40P01"
        }
        None => false,
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::UniqueViolation { .. } => {
                ApiError::AlreadyExists("the resource already exists".to_owned())
            }
            DbError::Unavailable(_) => {
                tracing::warn!(error = %error_chain(&error), "database unavailable");
                ApiError::Unavailable(
                    "the service is temporarily unavailable, retry later".to_owned(),
                )
            }
            DbError::ConcurrentChange => ApiError::Aborted(
                "the resource was changed by another request at the same time; retry".to_owned(),
            ),
            other => ApiError::internal(other),
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_messages_name_the_failing_columns() {
        assert_eq!(
            sqlite_constraint_columns("UNIQUE constraint failed: users.email").as_deref(),
            Some("users.email")
        );
        assert_eq!(
            sqlite_constraint_columns("FOREIGN KEY constraint failed"),
            None
        );
    }

    #[test]
    fn transient_codes_are_recognised() {
        assert!(is_transient(Some("5")));
        assert!(is_transient(Some("517")));
        assert!(is_transient(Some("57P01")));
        assert!(is_transient(Some("40001")));
        assert!(!is_transient(Some("23505")));
        assert!(!is_transient(Some("19")));
        assert!(!is_transient(None));
    }

    #[test]
    fn pool_timeouts_map_to_unavailable() {
        let api: ApiError = DbError::from(sqlx::Error::PoolTimedOut).into();
        assert!(matches!(api, ApiError::Unavailable(_)));
        let api: ApiError = DbError::UniqueViolation { constraint: None }.into();
        assert!(matches!(api, ApiError::AlreadyExists(_)));
        let api: ApiError = DbError::from(sqlx::Error::RowNotFound).into();
        assert!(matches!(api, ApiError::Internal(_)));
    }
}
