//! What an account may be.

use std::fmt;
use std::str::FromStr;

use gigmesh_proto::auth::Role as ProtoRole;

/// A role carried by an account and by its access tokens (the `roles` claim).
///
/// Roles are independent: an admin is not implicitly a seller, and every account is a buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Every account.
    Buyer,
    /// An account that became a seller.
    Seller,
    /// A marketplace administrator.
    Admin,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 3] = [Role::Buyer, Role::Seller, Role::Admin];

    /// The name used in the `roles` claim: `buyer`, `seller` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Buyer => "buyer",
            Role::Seller => "seller",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A role name or proto value that is not a gigmesh role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected buyer, seller or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == name)
            .ok_or_else(|| UnknownRole(name.to_owned()))
    }
}

impl From<Role> for ProtoRole {
    fn from(role: Role) -> Self {
        match role {
            Role::Buyer => ProtoRole::Buyer,
            Role::Seller => ProtoRole::Seller,
            Role::Admin => ProtoRole::Admin,
        }
    }
}

impl TryFrom<ProtoRole> for Role {
    type Error = UnknownRole;

    fn try_from(role: ProtoRole) -> Result<Self, Self::Error> {
        match role {
            ProtoRole::Buyer => Ok(Role::Buyer),
            ProtoRole::Seller => Ok(Role::Seller),
            ProtoRole::Admin => Ok(Role::Admin),
            ProtoRole::Unspecified => Err(UnknownRole(role.as_str_name().to_owned())),
        }
    }
}

impl TryFrom<i32> for Role {
    type Error = UnknownRole;

    /// Converts the raw value of a proto `Role` field.
    fn try_from(value: i32) -> Result<Self, Self::Error> {
        ProtoRole::try_from(value)
            .map_err(|_| UnknownRole(value.to_string()))
            .and_then(Role::try_from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(Role::try_from(ProtoRole::from(role)), Ok(role));
            assert_eq!(Role::try_from(ProtoRole::from(role) as i32), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
        assert!(Role::try_from(ProtoRole::Unspecified).is_err());
        assert!(Role::try_from(42).is_err());
    }
}
