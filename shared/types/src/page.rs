//! Pagination as the AIP describes it: `page_size` clamped to a maximum, `page_token` an
//! opaque cursor the server hands out and reads back.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gigmesh_errors::ApiError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Longest page token accepted; real tokens are far shorter.
const MAX_PAGE_TOKEN_LENGTH: usize = 1024;

/// Page size parsing.
#[derive(Debug, Clone, Copy)]
pub struct PageSize;

impl PageSize {
    /// `0` means `default`; values above `max` are clamped to `max` (AIP-158); negative
    /// values are `INVALID_ARGUMENT`.
    pub fn parse(field: &str, raw: i32, default: u32, max: u32) -> Result<u32, ApiError> {
        match raw {
            0 => Ok(default.min(max)),
            negative if negative < 0 => Err(ApiError::invalid(field, "must not be negative")),
            positive => Ok(u32::try_from(positive).unwrap_or(max).min(max)),
        }
    }
}

/// An opaque cursor: a serialisable position, base64url-encoded JSON.
#[derive(Debug, Clone, Copy)]
pub struct PageToken;

impl PageToken {
    /// Encodes a cursor for `next_page_token`.
    pub fn encode(cursor: &impl Serialize) -> String {
        let json = serde_json::to_vec(cursor).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes a `page_token` field; empty means the first page (`None`).
    pub fn decode<T: DeserializeOwned>(field: &str, raw: &str) -> Result<Option<T>, ApiError> {
        if raw.is_empty() {
            return Ok(None);
        }
        let invalid = || ApiError::invalid(field, "is not a page token this server issued");
        if raw.len() > MAX_PAGE_TOKEN_LENGTH {
            return Err(invalid());
        }
        let json = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        serde_json::from_slice(&json)
            .map(Some)
            .map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_defaults_and_clamps() {
        assert_eq!(PageSize::parse("page_size", 0, 20, 100).unwrap(), 20);
        assert_eq!(PageSize::parse("page_size", 10_000, 20, 100).unwrap(), 100);
        assert_eq!(PageSize::parse("page_size", 7, 20, 100).unwrap(), 7);
        assert!(PageSize::parse("page_size", -1, 20, 100).is_err());
    }

    #[test]
    fn page_token_round_trips_and_rejects_garbage() {
        let token = PageToken::encode(&(42_i64, "abc".to_string()));
        let cursor: (i64, String) = PageToken::decode("page_token", &token).unwrap().unwrap();
        assert_eq!(cursor, (42, "abc".to_string()));
        assert!(PageToken::decode::<(i64, String)>("page_token", "!!!").is_err());
        assert!(
            PageToken::decode::<(i64, String)>("page_token", "")
                .unwrap()
                .is_none()
        );
    }
}
