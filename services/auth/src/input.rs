//! Requests as domain values: every proto field a caller sends is parsed here, each violation
//! named by its field, so a caller learns about every bad field at once. Secret tokens are
//! reduced to the digest the store keeps; nothing deeper sees a proto type or a raw string id.

use std::net::IpAddr;

use gigmesh_errors::{ApiError, Violations};
use gigmesh_grpc::Caller;
use gigmesh_proto::auth::{
    ChangePasswordRequest, ListSessionsRequest, LogInRequest, ResetPasswordRequest, SignUpRequest,
    SuspendAccountRequest,
};
use gigmesh_types::{Email, PageSize, PageToken, SessionId, UserId, client_network};
use tonic::Request;

use crate::credentials::secret_token_hash;
use crate::domain::{
    CallerSession, ClientOrigin, LoginName, Password, SUSPENSION_REASON_MAX_CHARS,
    UNKNOWN_CLIENT_ADDRESS, Username,
};
use crate::error::AuthError;

/// Sessions per page of ListSessions unless the caller asks otherwise.
pub const DEFAULT_SESSION_PAGE_SIZE: u32 = 20;
/// Most sessions per page of ListSessions.
pub const MAX_SESSION_PAGE_SIZE: u32 = 100;
/// Longest secret token accepted in a request; real ones have 43 characters.
const MAX_SECRET_TOKEN_LENGTH: usize = 256;

/// SignUp: who the new account is and its first password.
#[derive(Debug)]
pub struct SignUp {
    /// The normalised email address.
    pub email: Email,
    /// The chosen username.
    pub username: Username,
    /// The password to hash.
    pub password: Password,
}

/// LogIn: the name typed (email address or username) and the password presented.
#[derive(Debug)]
pub struct LogIn {
    /// Email address or username.
    pub login: LoginName,
    /// The password to check.
    pub password: Password,
}

/// ChangePassword: the password in use and the one to set.
#[derive(Debug)]
pub struct PasswordChange {
    /// The password the caller claims is current.
    pub current: Password,
    /// The password to set.
    pub new: Password,
}

/// ResetPassword: the mailed token's digest and the password to set.
#[derive(Debug)]
pub struct PasswordReset {
    /// Digest of the mailed reset token.
    pub token_hash: String,
    /// The password to set.
    pub new: Password,
}

/// SuspendAccount: whom to suspend, and why (the owner is told).
#[derive(Debug)]
pub struct Suspension {
    /// The account to suspend.
    pub account_id: UserId,
    /// Why, trimmed.
    pub reason: String,
}

/// ListSessions: how many sessions, after which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPageRequest {
    /// Sessions per page.
    pub size: u32,
    /// The last session of the previous page; `None` for the first page.
    pub after: Option<SessionId>,
}

/// Takes the values of parse steps whose failures were all recorded in `violations`.
fn all_parsed<T>(value: Option<T>) -> Result<T, AuthError> {
    value.ok_or_else(|| AuthError::Internal(anyhow::anyhow!("a parsed request field is missing")))
}

/// The account and session the caller's access token proves.
pub fn caller_session(caller: &Caller) -> CallerSession {
    CallerSession {
        account_id: caller.user_id(),
        session_id: caller.session_id(),
    }
}

/// Where `request` came from: the address the gateway reports (else the TCP peer), the
/// network it is counted under, and the user agent.
pub fn client_origin<T>(request: &Request<T>) -> ClientOrigin {
    let address = gigmesh_grpc::client_address(request);
    let known_or_placeholder = |address: Option<IpAddr>| {
        address.map_or_else(
            || UNKNOWN_CLIENT_ADDRESS.to_owned(),
            |known| known.to_string(),
        )
    };
    ClientOrigin {
        client_address: known_or_placeholder(address),
        client_network: known_or_placeholder(address.map(client_network)),
        user_agent: gigmesh_grpc::user_agent(request),
    }
}

/// The fields of SignUp.
pub fn sign_up(request: SignUpRequest) -> Result<SignUp, AuthError> {
    let mut violations = Violations::new();
    let email = violations.check(Email::parse("email", &request.email));
    let username = violations.check(Username::parse("username", &request.username));
    let password = violations.check(Password::parse_new("password", request.password));
    violations.finish()?;
    Ok(SignUp {
        email: all_parsed(email)?,
        username: all_parsed(username)?,
        password: all_parsed(password)?,
    })
}

/// The fields of LogIn.
pub fn log_in(request: LogInRequest) -> Result<LogIn, AuthError> {
    let mut violations = Violations::new();
    let login = violations.check(LoginName::parse("login", &request.login));
    let password = violations.check(Password::parse_presented("password", request.password));
    violations.finish()?;
    Ok(LogIn {
        login: all_parsed(login)?,
        password: all_parsed(password)?,
    })
}

/// The fields of ChangePassword.
pub fn password_change(request: ChangePasswordRequest) -> Result<PasswordChange, AuthError> {
    let mut violations = Violations::new();
    let current = violations.check(Password::parse_presented(
        "current_password",
        request.current_password,
    ));
    let new = violations.check(Password::parse_new("new_password", request.new_password));
    violations.finish()?;
    Ok(PasswordChange {
        current: all_parsed(current)?,
        new: all_parsed(new)?,
    })
}

/// The fields of ResetPassword.
pub fn password_reset(request: ResetPasswordRequest) -> Result<PasswordReset, AuthError> {
    let mut violations = Violations::new();
    let token_hash = violations.check(secret_token("token", &request.token));
    let new = violations.check(Password::parse_new("new_password", request.new_password));
    violations.finish()?;
    Ok(PasswordReset {
        token_hash: all_parsed(token_hash)?,
        new: all_parsed(new)?,
    })
}

/// The fields of SuspendAccount.
pub fn suspension(request: SuspendAccountRequest) -> Result<Suspension, AuthError> {
    let mut violations = Violations::new();
    let account_id = violations.check(UserId::parse("account_id", &request.account_id));
    let reason = violations.check(suspension_reason("reason", &request.reason));
    violations.finish()?;
    Ok(Suspension {
        account_id: all_parsed(account_id)?,
        reason: all_parsed(reason)?,
    })
}

/// The page ListSessions asks for.
pub fn session_page(request: &ListSessionsRequest) -> Result<SessionPageRequest, AuthError> {
    let mut violations = Violations::new();
    let size = violations.check(PageSize::parse(
        "page_size",
        request.page_size,
        DEFAULT_SESSION_PAGE_SIZE,
        MAX_SESSION_PAGE_SIZE,
    ));
    let after = violations
        .check(PageToken::decode::<String>(
            "page_token",
            &request.page_token,
        ))
        .flatten()
        .and_then(|raw| {
            violations.check(SessionId::parse("page_token", &raw).map_err(|_| {
                ApiError::invalid("page_token", "is not a page token this server issued")
            }))
        });
    violations.finish()?;
    Ok(SessionPageRequest {
        size: all_parsed(size)?,
        after,
    })
}

/// The page token of the page after `last`, the last session of a page.
pub fn session_page_token(last: SessionId) -> String {
    PageToken::encode(&last.to_string())
}

/// A secret token field (refresh, verification or reset token), reduced to its digest.
pub fn secret_token(field: &'static str, raw: &str) -> Result<String, ApiError> {
    let token = raw.trim();
    if token.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    if token.len() > MAX_SECRET_TOKEN_LENGTH {
        return Err(ApiError::invalid(
            field,
            "is not a token this server issued",
        ));
    }
    Ok(secret_token_hash(token))
}

/// A suspension reason: required, at most 500 characters.
fn suspension_reason(field: &str, raw: &str) -> Result<String, ApiError> {
    let reason = raw.trim();
    if reason.is_empty() {
        return Err(ApiError::invalid(
            field,
            "is required: say why, the owner is told",
        ));
    }
    if reason.chars().count() > SUSPENSION_REASON_MAX_CHARS {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {SUSPENSION_REASON_MAX_CHARS} characters long"),
        ));
    }
    Ok(reason.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(error: AuthError) -> Vec<String> {
        match ApiError::from(error) {
            ApiError::InvalidArgument(violations) => violations
                .into_iter()
                .map(|violation| violation.field)
                .collect(),
            other => panic!("expected invalid argument, got {other:?}"),
        }
    }

    #[test]
    fn secret_tokens_become_digests_and_oversized_ones_are_refused() {
        assert_eq!(
            secret_token("token", " abc ").unwrap(),
            secret_token_hash("abc")
        );
        assert!(secret_token("token", "  ").is_err());
        assert!(secret_token("token", &"x".repeat(MAX_SECRET_TOKEN_LENGTH + 1)).is_err());
    }

    #[test]
    fn session_pages_round_trip_and_report_every_bad_field() {
        let last = SessionId::new();
        let page = session_page(&ListSessionsRequest {
            page_size: 0,
            page_token: session_page_token(last),
        })
        .unwrap();
        assert_eq!(page.size, DEFAULT_SESSION_PAGE_SIZE);
        assert_eq!(page.after, Some(last));
        let bad = session_page(&ListSessionsRequest {
            page_size: -1,
            page_token: PageToken::encode(&"not-a-session"),
        })
        .unwrap_err();
        assert_eq!(fields(bad), ["page_size", "page_token"]);
    }

    #[test]
    fn suspensions_need_an_account_and_a_short_reason() {
        let request = |account_id: &str, reason: &str| SuspendAccountRequest {
            account_id: account_id.to_owned(),
            reason: reason.to_owned(),
        };
        let account_id = UserId::new();
        let parsed = suspension(request(&account_id.to_string(), " spam ")).unwrap();
        assert_eq!(parsed.account_id, account_id);
        assert_eq!(parsed.reason, "spam");
        let too_long = "x".repeat(SUSPENSION_REASON_MAX_CHARS + 1);
        assert_eq!(
            fields(suspension(request("nope", &too_long)).unwrap_err()),
            ["account_id", "reason"]
        );
    }
}
