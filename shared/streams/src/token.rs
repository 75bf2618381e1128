//! Resume tokens: the event id of a stream event names its user and its number in the
//! user's stream, so a stream resumes exactly after it, and a token of another user's
//! stream is refused rather than read.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gigmesh_types::UserId;
use uuid::Uuid;

/// Bytes of a token: the user's UUID and the number, big-endian.
const TOKEN_BYTES: usize = 16 + 8;

/// Why a resume token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// It is not a token this server issued.
    Malformed,
    /// It is a token of another user's stream.
    OtherUser,
}

/// The event id of `user_id`'s event number `seq`.
pub fn event_id(user_id: UserId, seq: i64) -> String {
    let mut bytes = [0_u8; TOKEN_BYTES];
    bytes[..16].copy_from_slice(user_id.as_uuid().as_bytes());
    bytes[16..].copy_from_slice(&seq.to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The number after which `user_id`'s stream resumes from `token`.
pub fn resume_after(user_id: UserId, token: &str) -> Result<i64, TokenRefusal> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim())
        .map_err(|_| TokenRefusal::Malformed)?;
    if bytes.len() != TOKEN_BYTES {
        return Err(TokenRefusal::Malformed);
    }
    let owner = Uuid::from_slice(&bytes[..16]).map_err(|_| TokenRefusal::Malformed)?;
    let mut seq = [0_u8; 8];
    seq.copy_from_slice(&bytes[16..]);
    let seq = i64::from_be_bytes(seq);
    if seq < 0 {
        return Err(TokenRefusal::Malformed);
    }
    if owner != user_id.as_uuid() {
        return Err(TokenRefusal::OtherUser);
    }
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_resumes_its_own_users_stream_only() {
        let user = UserId::new();
        let token = event_id(user, 42);
        assert_eq!(resume_after(user, &token), Ok(42));
        assert_eq!(resume_after(user, &event_id(user, 0)), Ok(0));
        assert_eq!(
            resume_after(UserId::new(), &token),
            Err(TokenRefusal::OtherUser)
        );
        for garbage in ["", "!!", "abc", &token[..10]] {
            assert_eq!(
                resume_after(user, garbage),
                Err(TokenRefusal::Malformed),
                "{garbage}"
            );
        }
        assert_eq!(
            resume_after(user, &event_id(user, -1)),
            Err(TokenRefusal::Malformed)
        );
    }
}
