//! The closed set of errors a gigmesh API can answer with, mapped once to `tonic::Status`.
//!
//! Every service turns its own domain error into an [`ApiError`]; the conversion to a gRPC
//! status lives here so that the same kind of failure always reaches clients the same way:
//! invalid input as `INVALID_ARGUMENT` with `google.rpc.BadRequest` field violations, internal
//! failures as an opaque `INTERNAL` whose cause chain goes to the log only. A message that
//! repeats request input repeats it through [`echoed_prefix`] or [`echoed_list`].

mod echo;

use std::fmt;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub use echo::{ECHOED_LIST_MAX_VALUES, ECHOED_PREFIX_MAX_BYTES, echoed_list, echoed_prefix};

/// One invalid field of a request and why it is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, e.g. `profile.display_name`.
    pub field: String,
    /// What is wrong and what would be accepted.
    pub description: String,
}

impl FieldViolation {
    /// Creates a violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.field, self.description)
    }
}

/// Everything an API call can fail with, as the caller should understand it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; each violation names a field and the reason.
    #[error("invalid argument: {}", join_violations(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// The named resource does not exist (or is not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The resource already exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// The resource is not in a state that allows the call; the message says which state.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The caller is not signed in or its credentials are not valid.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is signed in but may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// A quota or rate limit was hit; the caller may retry later.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A quota or rate limit was hit and the caller knows when to retry: the wait travels
    /// in the message and as `google.rpc.RetryInfo`.
    #[error("{message}")]
    RetryLater {
        /// What was refused, for the client.
        message: String,
        /// How long until a retry may succeed.
        retry_after: std::time::Duration,
    },
    /// The call lost a race with a concurrent change (AIP-193: `ABORTED`); retrying the
    /// whole call may succeed.
    #[error("{0}")]
    Aborted(String),
    /// A dependency is unavailable; the caller may retry.
    #[error("{0}")]
    Unavailable(String),
    /// A failure the caller cannot act on. Never shown to the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<FieldViolation> for ApiError {
    fn from(violation: FieldViolation) -> Self {
        Self::InvalidArgument(vec![violation])
    }
}

fn join_violations(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    /// A single invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    /// An unexpected failure; the cause chain is logged, the client sees `INTERNAL`.
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    /// A request field that parsed without a violation and still has no value: a bug in
    /// the parsing, not bad input (`INTERNAL`).
    pub fn parsed_field_missing() -> Self {
        Self::internal(anyhow::anyhow!("a parsed request field is missing"))
    }

    /// The gRPC code this error maps to.
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument(_) => Code::InvalidArgument,
            Self::NotFound(_) => Code::NotFound,
            Self::AlreadyExists(_) => Code::AlreadyExists,
            Self::FailedPrecondition(_) => Code::FailedPrecondition,
            Self::Unauthenticated(_) => Code::Unauthenticated,
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::ResourceExhausted(_) | Self::RetryLater { .. } => Code::ResourceExhausted,
            Self::Aborted(_) => Code::Aborted,
            Self::Unavailable(_) => Code::Unavailable,
            Self::Internal(_) => Code::Internal,
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::InvalidArgument(violations) => {
                let message = format!("invalid argument: {}", join_violations(&violations));
                let mut details = ErrorDetails::new();
                for violation in violations {
                    details.add_bad_request_violation(violation.field, violation.description);
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            ApiError::RetryLater {
                message,
                retry_after,
            } => Status::with_error_details(
                Code::ResourceExhausted,
                message,
                ErrorDetails::with_retry_info(Some(retry_after)),
            ),
            ApiError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                Status::internal("internal error")
            }
            other => Status::new(other.code(), other.to_string()),
        }
    }
}

/// Collects field violations while a request is parsed, so the caller learns about every bad
/// field at once.
#[derive(Debug, Default)]
pub struct Violations {
    violations: Vec<FieldViolation>,
}

impl Violations {
    /// Starts an empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` is invalid.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.violations
            .push(FieldViolation::new(field, description));
    }

    /// Keeps the value of a parse step, or records its violations and returns `None`.
    pub fn check<T, E: Into<ApiError>>(&mut self, result: Result<T, E>) -> Option<T> {
        match result.map_err(Into::into) {
            Ok(value) => Some(value),
            Err(ApiError::InvalidArgument(violations)) => {
                self.violations.extend(violations);
                None
            }
            Err(other) => {
                self.violations
                    .push(FieldViolation::new("request", other.to_string()));
                None
            }
        }
    }

    /// Parses a list of at most `max` entries, each under its `field[index]` path with
    /// `parse_entry`; `None` (with every violation recorded) when the list is too long or
    /// any entry is invalid.
    pub fn parse_list<Raw, Parsed>(
        &mut self,
        field: &str,
        entries: &[Raw],
        max: usize,
        mut parse_entry: impl FnMut(&str, &Raw, &mut Violations) -> Option<Parsed>,
    ) -> Option<Vec<Parsed>> {
        if entries.len() > max {
            self.add(field, format!("must have at most {max} entries"));
            return None;
        }
        let mut parsed = Vec::with_capacity(entries.len());
        let mut all_valid = true;
        for (index, entry) in entries.iter().enumerate() {
            match parse_entry(&format!("{field}[{index}]"), entry, self) {
                Some(value) => parsed.push(value),
                None => all_valid = false,
            }
        }
        all_valid.then_some(parsed)
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    /// `Ok(())` when nothing was recorded, else `INVALID_ARGUMENT` with every violation.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(ApiError::InvalidArgument(self.violations))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_every_field_violation() {
        let mut violations = Violations::new();
        violations.add("email", "must contain '@'");
        violations.add("password", "must be at least 10 characters");
        let status: Status = violations.finish().unwrap_err().into();

        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("email: must contain '@'"));
        let details = status.get_error_details();
        let bad_request = details.bad_request().expect("bad request details");
        let fields: Vec<_> = bad_request
            .field_violations
            .iter()
            .map(|violation| violation.field.as_str())
            .collect();
        assert_eq!(fields, ["email", "password"]);
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let status: Status = ApiError::internal(anyhow::anyhow!("password=hunter2")).into();
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }

    #[test]
    fn retry_later_carries_retry_info_and_aborted_is_its_own_code() {
        let status: Status = ApiError::RetryLater {
            message: "slow down".to_owned(),
            retry_after: std::time::Duration::from_secs(3),
        }
        .into();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(status.message(), "slow down");
        let retry = status.get_details_retry_info().expect("retry info");
        assert_eq!(retry.retry_delay, Some(std::time::Duration::from_secs(3)));
        let status: Status = ApiError::Aborted("changed meanwhile; retry".to_owned()).into();
        assert_eq!(status.code(), Code::Aborted);
    }

    #[test]
    fn lists_are_bounded_and_every_entry_is_named_by_its_index() {
        let mut violations = Violations::new();
        let parsed = violations.parse_list("tags", &["a", "", "c"], 5, |field, raw, violations| {
            if raw.is_empty() {
                violations.add(field, "is required");
                None
            } else {
                Some(raw.to_uppercase())
            }
        });
        assert_eq!(parsed, None);
        let status: Status = violations.finish().unwrap_err().into();
        assert!(
            status.message().contains("tags[1]: is required"),
            "{status:?}"
        );

        let mut violations = Violations::new();
        let too_many = violations.parse_list("tags", &[1, 2, 3], 2, |_, raw, _| Some(*raw));
        assert_eq!(too_many, None);
        assert!(violations.finish().is_err());

        let mut violations = Violations::new();
        let fine = violations.parse_list("tags", &[1, 2], 2, |_, raw, _| Some(raw * 10));
        assert_eq!(fine, Some(vec![10, 20]));
        assert!(violations.is_empty());
    }

    #[test]
    fn check_collects_violations_and_keeps_values() {
        let mut violations = Violations::new();
        assert_eq!(violations.check(Ok::<_, ApiError>(3)), Some(3));
        assert_eq!(
            violations.check::<u8, _>(Err(ApiError::invalid("name", "too long"))),
            None
        );
        assert!(!violations.is_empty());
        assert!(violations.finish().is_err());
    }
}
