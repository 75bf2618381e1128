//! The claims of an access token.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::role::Role;

/// The `iss` of every gigmesh access token.
pub const ISSUER: &str = "gigmesh";
/// The `aud` of every gigmesh access token.
pub const AUDIENCE: &str = "gigmesh";
/// How long an access token lives unless its issuer says otherwise.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// What an access token says about its bearer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id (UUIDv7 of the account).
    pub sub: String,
    /// The session (refresh-token family) the token was issued for.
    pub sid: String,
    /// Role names (`buyer`, `seller`, `admin`); unknown names are ignored by [`Claims::has_role`].
    pub roles: Vec<String>,
    /// Issuer, [`ISSUER`].
    pub iss: String,
    /// Audience, [`AUDIENCE`].
    pub aud: String,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expires at, unix seconds.
    pub exp: i64,
    /// Unique id of the token.
    pub jti: String,
}

impl Claims {
    /// Claims for `user_id` in `session_id` with `roles`, issued now by gigmesh for gigmesh and
    /// valid for `lifetime` (usually [`ACCESS_TOKEN_LIFETIME`]), with a fresh `jti`.
    pub fn new(
        user_id: impl Into<String>,
        session_id: impl Into<String>,
        roles: &[Role],
        lifetime: Duration,
    ) -> Self {
        let issued_at = unix_seconds(SystemTime::now());
        let lifetime_seconds = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        Self {
            sub: user_id.into(),
            sid: session_id.into(),
            roles: roles.iter().map(|role| role.as_str().to_owned()).collect(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: issued_at,
            exp: issued_at.saturating_add(lifetime_seconds),
            jti: uuid::Uuid::now_v7().to_string(),
        }
    }

    /// The user id of the bearer.
    pub fn user_id(&self) -> &str {
        &self.sub
    }

    /// The session id of the bearer.
    pub fn session_id(&self) -> &str {
        &self.sid
    }

    /// Whether the token carries `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.iter().any(|name| name == role.as_str())
    }

    /// The known roles the token carries.
    pub fn known_roles(&self) -> Vec<Role> {
        self.roles
            .iter()
            .filter_map(|name| name.parse().ok())
            .collect()
    }
}

/// Seconds since the unix epoch (0 for times before it).
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_claims_are_for_gigmesh() {
        let claims = Claims::new(
            "user-1",
            "session-1",
            &[Role::Buyer, Role::Seller],
            ACCESS_TOKEN_LIFETIME,
        );
        assert_eq!(claims.user_id(), "user-1");
        assert_eq!(claims.session_id(), "session-1");
        assert_eq!(claims.iss, ISSUER);
        assert_eq!(claims.aud, AUDIENCE);
        assert_eq!(claims.exp - claims.iat, 900);
        assert!(claims.has_role(Role::Buyer));
        assert!(claims.has_role(Role::Seller));
        assert!(!claims.has_role(Role::Admin));
        assert_eq!(claims.known_roles(), vec![Role::Buyer, Role::Seller]);
    }

    #[test]
    fn unknown_role_names_are_ignored() {
        let mut claims = Claims::new("user-1", "session-1", &[], ACCESS_TOKEN_LIFETIME);
        claims.roles = vec!["root".to_owned(), "admin".to_owned()];
        assert!(claims.has_role(Role::Admin));
        assert_eq!(claims.known_roles(), vec![Role::Admin]);
    }
}
