//! Who the client is, as far as the network can tell.

use std::net::IpAddr;

use ipnet::IpNet;

/// Resolves the client address of a call from the TCP peer and, only when the peer is a
/// trusted proxy, the `x-forwarded-for` chain it sent.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientAddressResolver {
    trusted_proxies: Vec<IpNet>,
}

impl ClientAddressResolver {
    /// A resolver that believes `x-forwarded-for` from `trusted_proxies` only.
    pub(crate) fn new(trusted_proxies: Vec<IpNet>) -> Self {
        Self { trusted_proxies }
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.trusted_proxies
            .iter()
            .any(|network| network.contains(&address))
    }

    /// The client address: the peer, unless the peer is a trusted proxy, in which case the
    /// right-most address of `x-forwarded-for` that is not itself a trusted proxy (each
    /// proxy appends the address it saw, so everything left of that could be forged by the
    /// client).
    pub(crate) fn resolve(
        &self,
        peer: IpAddr,
        forwarded_for: Option<&http::HeaderValue>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.is_trusted(peer) {
            return peer;
        }
        let Some(chain) = forwarded_for.and_then(|value| value.to_str().ok()) else {
            return peer;
        };
        let mut leftmost = None;
        for hop in chain.rsplit(',') {
            let Ok(address) = hop.trim().parse::<IpAddr>() else {
                // An unreadable hop ends what can be believed.
                break;
            };
            let address = canonical(address);
            if !self.is_trusted(address) {
                return address;
            }
            leftmost = Some(address);
        }
        leftmost.unwrap_or(peer)
    }
}

/// IPv4 addresses seen through an IPv6 socket (`::ffff:a.b.c.d`) as plain IPv4.
pub(crate) fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn header(text: &str) -> http::HeaderValue {
        http::HeaderValue::from_str(text).expect("header")
    }

    #[test]
    fn untrusted_peers_cannot_claim_another_address() {
        let resolver = ClientAddressResolver::default();
        assert_eq!(
            resolver.resolve(ip("203.0.113.9"), Some(&header("1.2.3.4"))),
            ip("203.0.113.9")
        );
        assert_eq!(
            resolver.resolve(ip("::ffff:203.0.113.9"), None),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_proxies_pass_the_client_on() {
        let resolver = ClientAddressResolver::new(vec!["10.0.0.0/8".parse().expect("net")]);
        let envoy = ip("10.1.2.3");
        assert_eq!(resolver.resolve(envoy, None), envoy);
        assert_eq!(
            resolver.resolve(envoy, Some(&header("198.51.100.7"))),
            ip("198.51.100.7")
        );
        // A client that forges the left of the chain gets the address Envoy saw.
        assert_eq!(
            resolver.resolve(envoy, Some(&header("6.6.6.6, 198.51.100.7, 10.9.9.9"))),
            ip("198.51.100.7")
        );
        // Only proxies in the chain: the left-most one.
        assert_eq!(
            resolver.resolve(envoy, Some(&header("10.0.0.5, 10.9.9.9"))),
            ip("10.0.0.5")
        );
        // Garbage is not believed.
        assert_eq!(resolver.resolve(envoy, Some(&header("not-an-ip"))), envoy);
    }
}
