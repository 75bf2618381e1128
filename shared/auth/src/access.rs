//! Who may call a method.

use std::fmt;

use gigmesh_proto::api::Access as ProtoAccess;
use tonic::Status;

use crate::claims::Claims;
use crate::role::Role;

/// The access policy of an RPC, declared with the `(gigmesh.api.v1.access)` method option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// Any signed-in account.
    SignedIn,
    /// A signed-in account with the seller role.
    Seller,
    /// A signed-in account with the admin role.
    Admin,
}

/// Why a caller may not call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessDenied {
    /// The method needs a signed-in caller and the call carries no token.
    #[error("sign in first: this call needs an access token")]
    NotSignedIn,
    /// The caller lacks the role the method needs.
    #[error("this call needs the {0} role")]
    MissingRole(Role),
}

impl From<AccessDenied> for Status {
    fn from(denied: AccessDenied) -> Self {
        match denied {
            AccessDenied::NotSignedIn => Status::unauthenticated(denied.to_string()),
            AccessDenied::MissingRole(_) => Status::permission_denied(denied.to_string()),
        }
    }
}

impl Access {
    /// The policy of a proto option value; `None` for `ACCESS_UNSPECIFIED` or an unknown value,
    /// which callers must refuse (fail closed).
    pub fn from_proto(value: i32) -> Option<Self> {
        match ProtoAccess::try_from(value).ok()? {
            ProtoAccess::Public => Some(Access::Public),
            ProtoAccess::SignedIn => Some(Access::SignedIn),
            ProtoAccess::Seller => Some(Access::Seller),
            ProtoAccess::Admin => Some(Access::Admin),
            ProtoAccess::Unspecified => None,
        }
    }

    /// Whether the policy needs a signed-in caller.
    pub fn needs_sign_in(self) -> bool {
        self != Access::Public
    }

    /// The role the policy needs on top of being signed in, if any.
    pub fn required_role(self) -> Option<Role> {
        match self {
            Access::Public | Access::SignedIn => None,
            Access::Seller => Some(Role::Seller),
            Access::Admin => Some(Role::Admin),
        }
    }

    /// Checks a caller (the verified claims, or `None` without a token) against the policy:
    /// [`AccessDenied::NotSignedIn`] (`UNAUTHENTICATED`) or [`AccessDenied::MissingRole`]
    /// (`PERMISSION_DENIED`).
    pub fn check(self, caller: Option<&Claims>) -> Result<(), AccessDenied> {
        if !self.needs_sign_in() {
            return Ok(());
        }
        let Some(claims) = caller else {
            return Err(AccessDenied::NotSignedIn);
        };
        match self.required_role() {
            Some(role) if !claims.has_role(role) => Err(AccessDenied::MissingRole(role)),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Access::Public => "public",
            Access::SignedIn => "signed-in",
            Access::Seller => "seller",
            Access::Admin => "admin",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::ACCESS_TOKEN_LIFETIME;

    fn caller(roles: &[Role]) -> Claims {
        Claims::new("user-1", "session-1", roles, ACCESS_TOKEN_LIFETIME)
    }

    #[test]
    fn reads_proto_values() {
        assert_eq!(
            Access::from_proto(ProtoAccess::Public as i32),
            Some(Access::Public)
        );
        assert_eq!(
            Access::from_proto(ProtoAccess::SignedIn as i32),
            Some(Access::SignedIn)
        );
        assert_eq!(
            Access::from_proto(ProtoAccess::Seller as i32),
            Some(Access::Seller)
        );
        assert_eq!(
            Access::from_proto(ProtoAccess::Admin as i32),
            Some(Access::Admin)
        );
        assert_eq!(Access::from_proto(ProtoAccess::Unspecified as i32), None);
        assert_eq!(Access::from_proto(99), None);
    }

    #[test]
    fn public_lets_anyone_in() {
        assert_eq!(Access::Public.check(None), Ok(()));
        assert_eq!(Access::Public.check(Some(&caller(&[Role::Buyer]))), Ok(()));
    }

    #[test]
    fn signed_in_needs_a_caller() {
        assert_eq!(Access::SignedIn.check(None), Err(AccessDenied::NotSignedIn));
        assert_eq!(
            Access::SignedIn.check(Some(&caller(&[Role::Buyer]))),
            Ok(())
        );
        assert_eq!(Access::SignedIn.check(Some(&caller(&[]))), Ok(()));
    }

    #[test]
    fn roles_are_checked() {
        let buyer = caller(&[Role::Buyer]);
        let seller = caller(&[Role::Buyer, Role::Seller]);
        let admin = caller(&[Role::Buyer, Role::Admin]);
        assert_eq!(Access::Seller.check(None), Err(AccessDenied::NotSignedIn));
        assert_eq!(
            Access::Seller.check(Some(&buyer)),
            Err(AccessDenied::MissingRole(Role::Seller))
        );
        assert_eq!(Access::Seller.check(Some(&seller)), Ok(()));
        assert_eq!(
            Access::Seller.check(Some(&admin)),
            Err(AccessDenied::MissingRole(Role::Seller))
        );
        assert_eq!(
            Access::Admin.check(Some(&seller)),
            Err(AccessDenied::MissingRole(Role::Admin))
        );
        assert_eq!(Access::Admin.check(Some(&admin)), Ok(()));
    }

    #[test]
    fn denials_map_to_grpc_codes() {
        assert_eq!(
            Status::from(AccessDenied::NotSignedIn).code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            Status::from(AccessDenied::MissingRole(Role::Admin)).code(),
            tonic::Code::PermissionDenied
        );
    }
}
