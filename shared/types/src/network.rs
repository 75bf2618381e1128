//! The network a client address stands for, for anything counted per client: an IPv4
//! address is one client, an IPv6 /64 is one subscriber's.

use std::net::{IpAddr, Ipv6Addr};

/// Prefix length of the IPv6 networks that count as one client: a /64 is the smallest network
/// handed to one subscriber, who picks the low 64 bits freely.
const IPV6_CLIENT_PREFIX_LENGTH: u32 = 64;

/// The network `address` is counted under: an IPv4 address itself (also when seen as
/// IPv4-mapped IPv6), an IPv6 address its /64, since every address of a /64 is one
/// subscriber's to use.
pub fn client_network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network_mask = u128::MAX << (128 - IPV6_CLIENT_PREFIX_LENGTH);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & network_mask))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn ipv6_addresses_are_keyed_by_their_64_and_ipv4_by_the_address() {
        assert_eq!(client_network(ip("2001:db8:1:2::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            client_network(ip("2001:db8:1:2:ffff::9")),
            client_network(ip("2001:db8:1:2::1"))
        );
        assert_ne!(
            client_network(ip("2001:db8:1:3::1")),
            client_network(ip("2001:db8:1:2::1"))
        );
        assert_eq!(client_network(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_ne!(
            client_network(ip("192.0.2.2")),
            client_network(ip("192.0.2.1"))
        );
        assert_eq!(client_network(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn ipv4_compatible_and_loopback_ipv6_stay_ipv6() {
        assert_eq!(client_network(ip("::1")), ip("::"));
        assert_eq!(client_network(ip("::192.0.2.1")), ip("::"));
    }
}
