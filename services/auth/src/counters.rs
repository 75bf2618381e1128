//! The auth service's own metrics: log-in attempts by outcome, spent refresh tokens
//! presented again, and password hashes refused for want of capacity. The per-RPC metrics
//! come from the shared gRPC layer.

use crate::error::AuthError;

/// Log-in attempts by outcome.
const LOG_INS_TOTAL: &str = "gigmesh_auth_log_ins_total";
/// Spent refresh tokens presented again (each revokes a session).
const REFRESH_TOKEN_REUSE_TOTAL: &str = "gigmesh_auth_refresh_token_reuse_total";
/// Password hashes refused because every hashing slot and queue place was taken.
const HASHING_REFUSED_TOTAL: &str = "gigmesh_auth_password_hashing_refused_total";

/// Describes the auth metrics to the recorder.
pub(crate) fn describe_metrics() {
    metrics::describe_counter!(LOG_INS_TOTAL, "log-in attempts by outcome");
    metrics::describe_counter!(
        REFRESH_TOKEN_REUSE_TOTAL,
        "spent refresh tokens presented again; each revokes its session"
    );
    metrics::describe_counter!(
        HASHING_REFUSED_TOTAL,
        "password hashes refused because every hashing slot and queue place was taken"
    );
}

/// Counts a log-in attempt, from the parsing of its request to its answer.
pub(crate) fn count_log_in<T>(result: &Result<T, AuthError>) {
    let outcome = match result {
        Ok(_) => "success",
        Err(AuthError::InvalidCredentials) => "invalid_credentials",
        Err(AuthError::TooManyFailedLogIns { .. }) => "throttled",
        Err(AuthError::HashingAtCapacity) => "hashing_at_capacity",
        Err(AuthError::EmailNotVerified) => "email_not_verified",
        Err(AuthError::AccountSuspended) => "account_suspended",
        Err(AuthError::Api(_)) => "invalid_argument",
        Err(_) => "error",
    };
    metrics::counter!(LOG_INS_TOTAL, "outcome" => outcome).increment(1);
}

/// Counts a spent refresh token presented again.
pub(crate) fn count_refresh_token_reuse() {
    metrics::counter!(REFRESH_TOKEN_REUSE_TOTAL).increment(1);
}

/// Counts a password hash refused for want of capacity.
pub(crate) fn count_hashing_refused() {
    metrics::counter!(HASHING_REFUSED_TOTAL).increment(1);
}
