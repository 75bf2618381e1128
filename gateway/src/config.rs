//! What the gateway can be told at start-up.

use std::net::{IpAddr, SocketAddr};

use gigmesh_config::{ConfigError, Problems, Validate};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Largest request message accepted by default (4 MiB, gRPC's usual limit).
const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Rate-limit buckets kept by default: a bucket costs under 100 bytes, so this is under
/// 10 MB, and it is far more distinct clients than call the limited methods within one refill
/// period of a healthy gateway.
const DEFAULT_RATE_LIMIT_MAX_TRACKED_CLIENTS: usize = 100_000;
/// Most rate-limit buckets that may be configured, keeping the limiter under about 1 GB.
const MAX_RATE_LIMIT_MAX_TRACKED_CLIENTS: usize = 10_000_000;
/// Longest upstream re-resolution interval accepted, in seconds: past an hour, new replicas
/// would sit unused for too long.
const MAX_UPSTREAM_RESOLVE_INTERVAL_SECONDS: u64 = 3600;

/// Configuration of the gateway (`gateway.*`, `GIGMESH__GATEWAY__*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address to listen on, e.g. `0.0.0.0:8080`; native gRPC and grpc-web share it.
    pub listen: String,
    /// Largest request message, in bytes, before `RESOURCE_EXHAUSTED`.
    pub max_message_bytes: usize,
    /// Sustained calls per minute per client address to methods marked `rate_limited`.
    pub rate_limit_per_minute: u32,
    /// Calls a client address may make at once above the sustained rate.
    pub rate_limit_burst: u32,
    /// Most rate-limit buckets kept at once (one per IPv4 address, one per IPv6 /64); when
    /// every bucket is in use, new clients are refused until one has refilled.
    pub rate_limit_max_tracked_clients: usize,
    /// Proxies (addresses or CIDR networks, e.g. Envoy's) whose `x-forwarded-for` is
    /// believed; from anyone else the header is replaced with the peer address.
    pub trusted_proxies: Vec<String>,
    /// Origins browsers may call from (`https://app.example.com`), or `["*"]` for any.
    pub cors_allowed_origins: Vec<String>,
    /// Longest wait for calls in flight to finish after shutdown starts, in seconds.
    pub drain_timeout_seconds: u64,
    /// How often, in seconds, `gigmesh gateway` resolves each upstream's host name again
    /// to find the replicas it balances over (every address of a headless Service); a
    /// replica that appears or goes away is noticed within this time.
    pub upstream_resolve_interval_seconds: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            rate_limit_per_minute: 30,
            rate_limit_burst: 10,
            rate_limit_max_tracked_clients: DEFAULT_RATE_LIMIT_MAX_TRACKED_CLIENTS,
            trusted_proxies: Vec::new(),
            cors_allowed_origins: vec!["*".to_owned()],
            drain_timeout_seconds: 30,
            upstream_resolve_interval_seconds: 5,
        }
    }
}

impl GatewayConfig {
    /// Checks the whole configuration and reports every problem at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Problems::default();
        Validate::validate(self, "gateway", &mut problems);
        problems.finish()
    }

    /// The trusted proxies as networks (a bare address is a network of one).
    pub(crate) fn trusted_proxy_networks(&self) -> anyhow::Result<Vec<IpNet>> {
        self.trusted_proxies
            .iter()
            .map(|entry| parse_network(entry))
            .collect()
    }

    /// How often upstream host names are resolved again.
    pub fn upstream_resolve_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.upstream_resolve_interval_seconds)
    }

    /// Whether browsers from any origin may call.
    pub(crate) fn allows_any_origin(&self) -> bool {
        self.cors_allowed_origins.iter().any(|origin| origin == "*")
    }
}

fn parse_network(entry: &str) -> anyhow::Result<IpNet> {
    let entry = entry.trim();
    if let Ok(network) = entry.parse::<IpNet>() {
        return Ok(network);
    }
    let address: IpAddr = entry
        .parse()
        .map_err(|_| anyhow::anyhow!("{entry:?} is neither an IP address nor a CIDR network"))?;
    Ok(IpNet::from(address))
}

impl Validate for GatewayConfig {
    fn validate(&self, path: &str, problems: &mut Problems) {
        if self.listen.parse::<SocketAddr>().is_err() {
            problems.add(
                path,
                "listen",
                "must be an ip:port address, e.g. 0.0.0.0:8080",
            );
        }
        if !(1024..=256 * 1024 * 1024).contains(&self.max_message_bytes) {
            problems.add(
                path,
                "max_message_bytes",
                "must be between 1024 and 268435456",
            );
        }
        if self.rate_limit_per_minute == 0 {
            problems.add(path, "rate_limit_per_minute", "must be at least 1");
        }
        if self.rate_limit_burst == 0 {
            problems.add(path, "rate_limit_burst", "must be at least 1");
        }
        if !(1..=MAX_RATE_LIMIT_MAX_TRACKED_CLIENTS).contains(&self.rate_limit_max_tracked_clients)
        {
            problems.add(
                path,
                "rate_limit_max_tracked_clients",
                format!("must be between 1 and {MAX_RATE_LIMIT_MAX_TRACKED_CLIENTS}"),
            );
        }
        if !(1..=MAX_UPSTREAM_RESOLVE_INTERVAL_SECONDS)
            .contains(&self.upstream_resolve_interval_seconds)
        {
            problems.add(
                path,
                "upstream_resolve_interval_seconds",
                format!("must be between 1 and {MAX_UPSTREAM_RESOLVE_INTERVAL_SECONDS}"),
            );
        }
        for entry in &self.trusted_proxies {
            if let Err(error) = parse_network(entry) {
                problems.add(path, "trusted_proxies", error.to_string());
            }
        }
        if self.cors_allowed_origins.is_empty() {
            problems.add(
                path,
                "cors_allowed_origins",
                "must list origins, or \"*\" for any",
            );
        } else if self.allows_any_origin() && self.cors_allowed_origins.len() > 1 {
            problems.add(path, "cors_allowed_origins", "\"*\" must be the only entry");
        } else if !self.allows_any_origin() {
            for origin in &self.cors_allowed_origins {
                let well_formed = (origin.starts_with("https://") || origin.starts_with("http://"))
                    && !origin.ends_with('/')
                    && http::HeaderValue::from_str(origin).is_ok();
                if !well_formed {
                    problems.add(
                        path,
                        "cors_allowed_origins",
                        format!("{origin:?} is not an origin like https://app.example.com"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        GatewayConfig::default().validate().expect("valid");
    }

    #[test]
    fn every_problem_is_reported() {
        let config = GatewayConfig {
            listen: "nowhere".to_owned(),
            max_message_bytes: 10,
            rate_limit_per_minute: 0,
            rate_limit_burst: 0,
            rate_limit_max_tracked_clients: 0,
            trusted_proxies: vec!["10.0.0.0/8".to_owned(), "proxy.local".to_owned()],
            cors_allowed_origins: vec!["app.example.com".to_owned()],
            drain_timeout_seconds: 0,
            upstream_resolve_interval_seconds: 0,
        };
        let report = config.validate().expect_err("invalid").to_string();
        for key in [
            "gateway.listen",
            "gateway.max_message_bytes",
            "gateway.rate_limit_per_minute",
            "gateway.rate_limit_burst",
            "gateway.rate_limit_max_tracked_clients",
            "gateway.trusted_proxies",
            "gateway.cors_allowed_origins",
            "gateway.upstream_resolve_interval_seconds",
        ] {
            assert!(report.contains(key), "{key} missing from {report}");
        }
        assert!(!report.contains("10.0.0.0/8"), "{report}");
    }

    #[test]
    fn trusted_proxies_take_addresses_and_networks() {
        let config = GatewayConfig {
            trusted_proxies: vec![
                "10.0.0.0/8".to_owned(),
                "192.168.1.7".to_owned(),
                "::1".to_owned(),
            ],
            ..GatewayConfig::default()
        };
        let networks = config.trusted_proxy_networks().expect("parses");
        assert_eq!(networks.len(), 3);
        assert!(networks[1].contains(&"192.168.1.7".parse::<IpAddr>().expect("ip")));
    }

    #[test]
    fn star_must_stand_alone() {
        let config = GatewayConfig {
            cors_allowed_origins: vec!["*".to_owned(), "https://a.example".to_owned()],
            ..GatewayConfig::default()
        };
        assert!(config.validate().is_err());
        let config = GatewayConfig {
            cors_allowed_origins: vec![
                "https://a.example".to_owned(),
                "http://localhost:3000".to_owned(),
            ],
            ..GatewayConfig::default()
        };
        config.validate().expect("valid");
    }
}
