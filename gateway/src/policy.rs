//! The access policy of every gigmesh RPC, read once from the proto descriptors.
//!
//! Each method declares `(gigmesh.api.v1.access)` and optionally
//! `(gigmesh.api.v1.rate_limited)`; the gateway enforces them before a call reaches the
//! owning service. A method that declares no access is refused (fail closed), so a new RPC
//! is private until its author says otherwise.

use std::collections::BTreeMap;

use anyhow::Context as _;
use gigmesh_auth::Access;
use prost_reflect::{DescriptorPool, Value};

/// Full name of the method option that says who may call a method.
const ACCESS_OPTION: &str = "gigmesh.api.v1.access";
/// Full name of the method option that puts a method under the per-address rate limit.
const RATE_LIMITED_OPTION: &str = "gigmesh.api.v1.rate_limited";

/// What the gateway enforces for one method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MethodPolicy {
    /// Who may call; `None` when the method declares nothing, and then nobody may.
    pub access: Option<Access>,
    /// Whether the per-client-address rate limit applies.
    pub rate_limited: bool,
}

/// The policies of one service, by method name.
pub(crate) type ServicePolicies = BTreeMap<String, MethodPolicy>;

/// The policies of every service in an encoded `FileDescriptorSet`, by full service name.
pub(crate) fn read_policies(
    file_descriptor_set: &[u8],
) -> anyhow::Result<BTreeMap<String, ServicePolicies>> {
    let pool = DescriptorPool::decode(file_descriptor_set)
        .context("the proto descriptor set cannot be decoded")?;
    let access_option = pool
        .get_extension_by_name(ACCESS_OPTION)
        .with_context(|| format!("the descriptor set does not define {ACCESS_OPTION}"))?;
    let rate_limited_option = pool
        .get_extension_by_name(RATE_LIMITED_OPTION)
        .with_context(|| format!("the descriptor set does not define {RATE_LIMITED_OPTION}"))?;

    let mut services = BTreeMap::new();
    for service in pool.services() {
        let mut methods = ServicePolicies::new();
        for method in service.methods() {
            let options = method.options();
            let access = match options.get_extension(&access_option).as_ref() {
                Value::EnumNumber(number) => Access::from_proto(*number),
                _ => None,
            };
            let rate_limited = options
                .get_extension(&rate_limited_option)
                .as_bool()
                .unwrap_or(false);
            methods.insert(
                method.name().to_owned(),
                MethodPolicy {
                    access,
                    rate_limited,
                },
            );
        }
        services.insert(service.full_name().to_owned(), methods);
    }
    Ok(services)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_gigmesh_policies() {
        let services = read_policies(gigmesh_proto::FILE_DESCRIPTOR_SET).expect("reads");
        let auth = &services["gigmesh.auth.v1.AuthService"];
        assert_eq!(
            auth["LogIn"],
            MethodPolicy {
                access: Some(Access::Public),
                rate_limited: true
            }
        );
        assert_eq!(
            auth["GetJwks"],
            MethodPolicy {
                access: Some(Access::Public),
                rate_limited: false
            }
        );
        assert_eq!(auth["GetMyAccount"].access, Some(Access::SignedIn));
        assert_eq!(auth["SuspendAccount"].access, Some(Access::Admin));
        let users = &services["gigmesh.users.v1.UserService"];
        assert_eq!(users["UpdateMySellerProfile"].access, Some(Access::Seller));
    }

    #[test]
    fn every_gigmesh_method_declares_its_access() {
        let services = read_policies(gigmesh_proto::FILE_DESCRIPTOR_SET).expect("reads");
        for (service, methods) in &services {
            for (method, policy) in methods {
                assert!(
                    policy.access.is_some(),
                    "{service}/{method} declares no access"
                );
            }
        }
    }
}
