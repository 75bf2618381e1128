//! The bearer token of a request.

use crate::error::TokenError;

/// The token of the `authorization: Bearer <token>` header: `Ok(None)` when there is no
/// `authorization` header, [`TokenError::Malformed`] when there is one that is not a bearer
/// token. The scheme is case-insensitive (RFC 9110).
pub fn bearer_token(headers: &http::HeaderMap) -> Result<Option<&str>, TokenError> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| TokenError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(TokenError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Malformed);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(TokenError::Malformed);
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: Option<&str>) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_str(value).expect("valid header value"),
            );
        }
        headers
    }

    #[test]
    fn reads_bearer_tokens() {
        assert_eq!(bearer_token(&headers(None)), Ok(None));
        assert_eq!(
            bearer_token(&headers(Some("Bearer abc.def.ghi"))),
            Ok(Some("abc.def.ghi"))
        );
        assert_eq!(bearer_token(&headers(Some("bearer  abc"))), Ok(Some("abc")));
        assert_eq!(
            bearer_token(&headers(Some("Basic dXNlcjpwYXNz"))),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            bearer_token(&headers(Some("Bearer"))),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            bearer_token(&headers(Some("Bearer   "))),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            bearer_token(&headers(Some("abc.def.ghi"))),
            Err(TokenError::Malformed)
        );
    }
}
