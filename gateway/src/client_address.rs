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
    ///
    /// `forwarded_for` holds every `x-forwarded-for` line of the request in order: a proxy
    /// may add its hop as a line of its own rather than append it to the last one, and the
    /// lines together are one comma-separated list (RFC 9110 §5.3), read from the right.
    pub(crate) fn resolve<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a http::HeaderValue>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.is_trusted(peer) {
            return peer;
        }
        let mut leftmost = None;
        for line in forwarded_for.rev() {
            let Ok(chain) = line.to_str() else {
                // An unreadable line ends what can be believed.
                break;
            };
            for hop in chain.rsplit(',') {
                let Ok(address) = hop.trim().parse::<IpAddr>() else {
                    // An unreadable hop ends what can be believed.
                    return leftmost.unwrap_or(peer);
                };
                let address = canonical(address);
                if !self.is_trusted(address) {
                    return address;
                }
                leftmost = Some(address);
            }
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

    /// The `x-forwarded-for` lines of a request, in order.
    fn lines(texts: &[&str]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        for text in texts {
            headers.append(
                "x-forwarded-for",
                http::HeaderValue::from_str(text).expect("header"),
            );
        }
        headers
    }

    fn resolve(resolver: &ClientAddressResolver, peer: &str, texts: &[&str]) -> IpAddr {
        let headers = lines(texts);
        resolver.resolve(ip(peer), headers.get_all("x-forwarded-for").iter())
    }

    #[test]
    fn untrusted_peers_cannot_claim_another_address() {
        let resolver = ClientAddressResolver::default();
        assert_eq!(
            resolve(&resolver, "203.0.113.9", &["1.2.3.4"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            resolve(&resolver, "::ffff:203.0.113.9", &[]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_proxies_pass_the_client_on() {
        let resolver = ClientAddressResolver::new(vec!["10.0.0.0/8".parse().expect("net")]);
        let envoy = "10.1.2.3";
        assert_eq!(resolve(&resolver, envoy, &[]), ip(envoy));
        assert_eq!(
            resolve(&resolver, envoy, &["198.51.100.7"]),
            ip("198.51.100.7")
        );
        // A client that forges the left of the chain gets the address Envoy saw.
        assert_eq!(
            resolve(&resolver, envoy, &["6.6.6.6, 198.51.100.7, 10.9.9.9"]),
            ip("198.51.100.7")
        );
        // Only proxies in the chain: the left-most one.
        assert_eq!(
            resolve(&resolver, envoy, &["10.0.0.5, 10.9.9.9"]),
            ip("10.0.0.5")
        );
        // Garbage is not believed.
        assert_eq!(resolve(&resolver, envoy, &["not-an-ip"]), ip(envoy));
    }

    #[test]
    fn every_forwarded_for_line_is_part_of_the_chain() {
        let resolver = ClientAddressResolver::new(vec!["10.0.0.0/8".parse().expect("net")]);
        let envoy = "10.1.2.3";
        // The inner proxy added its hop as a line of its own: the client is in the first.
        assert_eq!(
            resolve(&resolver, envoy, &["198.51.100.7", "10.9.9.9"]),
            ip("198.51.100.7")
        );
        // A forged first line does not hide the hop a trusted proxy appended after it.
        assert_eq!(
            resolve(&resolver, envoy, &["6.6.6.6", "198.51.100.7, 10.9.9.9"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            resolve(&resolver, envoy, &["6.6.6.6, 10.0.0.7", "198.51.100.7"]),
            ip("198.51.100.7")
        );
        // Only proxies over several lines: the left-most one.
        assert_eq!(
            resolve(&resolver, envoy, &["10.0.0.5", "10.0.0.6, 10.9.9.9"]),
            ip("10.0.0.5")
        );
        // Garbage in a later line ends the chain there.
        assert_eq!(
            resolve(&resolver, envoy, &["198.51.100.7", "10.0.0.6, junk"]),
            ip(envoy)
        );
    }
}
