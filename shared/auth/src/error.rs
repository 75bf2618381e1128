//! Why a token was refused.

use tonic::Status;

/// Why an access token was refused. Every variant is `UNAUTHENTICATED` to the client, with a
/// fixed message that says what to do; the details of a forged token stay in the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The call needs a token and carries none.
    #[error("sign in first: this call needs an access token")]
    Missing,
    /// The `authorization` header or the token itself is not a well-formed bearer JWT.
    #[error("the access token is malformed: send \"authorization: Bearer <access_token>\"")]
    Malformed,
    /// The token expired.
    #[error("the access token has expired: get a new one with RefreshToken")]
    Expired,
    /// The signature does not match the token (forged or altered).
    #[error("the access token signature is invalid: log in again")]
    BadSignature,
    /// The token names a signing key that auth does not publish (anymore).
    #[error("the access token was signed by an unknown key: log in again")]
    UnknownKey,
    /// The token was issued for another audience.
    #[error("the access token is not meant for gigmesh")]
    WrongAudience,
    /// The token was issued by someone else.
    #[error("the access token was not issued by gigmesh")]
    WrongIssuer,
    /// The token's session ended (log-out, password change or reset, suspension) before the
    /// token expired.
    #[error("the session of this access token has ended: log in again")]
    Revoked,
}

impl From<TokenError> for Status {
    fn from(error: TokenError) -> Self {
        Status::unauthenticated(error.to_string())
    }
}

impl From<jsonwebtoken::errors::Error> for TokenError {
    fn from(error: jsonwebtoken::errors::Error) -> Self {
        use jsonwebtoken::errors::ErrorKind;
        match error.kind() {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::InvalidAudience => TokenError::WrongAudience,
            ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
            // Any other failure (shape, base64, JSON, missing or mistyped claims, an algorithm
            // other than EdDSA) means the token is not one of ours as sent.
            _ => TokenError::Malformed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_error_is_unauthenticated() {
        for error in [
            TokenError::Missing,
            TokenError::Malformed,
            TokenError::Expired,
            TokenError::BadSignature,
            TokenError::UnknownKey,
            TokenError::WrongAudience,
            TokenError::WrongIssuer,
            TokenError::Revoked,
        ] {
            let status = Status::from(error);
            assert_eq!(status.code(), tonic::Code::Unauthenticated);
            assert_eq!(status.message(), error.to_string());
        }
    }
}
