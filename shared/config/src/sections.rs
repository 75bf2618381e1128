//! Configuration sections that every gigmesh process shares.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Problems, Validate, redact_url};

/// Where a service keeps its data. Its `Debug` shows the URL without its password.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` or `postgres://user:password@host:port/database`.
    pub url: String,
    /// Size of the connection pool.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_connections: 10,
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl Validate for DatabaseConfig {
    fn validate(&self, path: &str, problems: &mut Problems) {
        if !(self.url.starts_with("sqlite:")
            || self.url.starts_with("postgres://")
            || self.url.starts_with("postgresql://"))
        {
            problems.add(path, "url", "must start with sqlite: or postgres://");
        }
        if self.max_connections == 0 || self.max_connections > 1000 {
            problems.add(path, "max_connections", "must be between 1 and 1000");
        }
    }
}

/// Which event bus adapter to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BusKind {
    /// The durable log in a local SQLite file (one process, `gigmesh dev`).
    Embedded,
    /// Kafka (or any Kafka-protocol broker).
    Kafka,
}

/// The event bus.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// Adapter.
    pub kind: BusKind,
    /// File of the embedded log (embedded only).
    pub embedded_path: PathBuf,
    /// Comma-separated `host:port` bootstrap servers (kafka only).
    pub kafka_brokers: String,
    /// How often every consumer tries an event before it goes to the dead letters.
    pub event_max_attempts: u32,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            kind: BusKind::Embedded,
            embedded_path: PathBuf::from(".gigmesh/bus.db"),
            kafka_brokers: "127.0.0.1:9092".to_owned(),
            event_max_attempts: 5,
        }
    }
}

impl Validate for BusConfig {
    fn validate(&self, path: &str, problems: &mut Problems) {
        match self.kind {
            BusKind::Embedded if self.embedded_path.as_os_str().is_empty() => {
                problems.add(path, "embedded_path", "must name a file");
            }
            BusKind::Kafka if self.kafka_brokers.trim().is_empty() => {
                problems.add(path, "kafka_brokers", "must list at least one host:port");
            }
            _ => {}
        }
        if self.event_max_attempts == 0 {
            problems.add(path, "event_max_attempts", "must be at least 1");
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for production log pipelines.
    Json,
}

/// Logs, traces and metrics.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Log format.
    pub log_format: LogFormat,
    /// `tracing` filter directives, e.g. `info,gigmesh=debug`.
    pub log_filter: String,
    /// OTLP/gRPC endpoint for traces, e.g. `http://otel-collector:4317`; empty disables export.
    pub otlp_endpoint: String,
    /// Address of the Prometheus `/metrics` endpoint; empty disables it.
    pub metrics_listen: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Pretty,
            log_filter: "info".to_owned(),
            otlp_endpoint: String::new(),
            metrics_listen: "127.0.0.1:9464".to_owned(),
        }
    }
}

impl Validate for TelemetryConfig {
    fn validate(&self, path: &str, problems: &mut Problems) {
        if !self.metrics_listen.is_empty()
            && self.metrics_listen.parse::<std::net::SocketAddr>().is_err()
        {
            problems.add(
                path,
                "metrics_listen",
                "must be host:port, e.g. 0.0.0.0:9464",
            );
        }
        if !self.otlp_endpoint.is_empty() && !self.otlp_endpoint.starts_with("http") {
            problems.add(path, "otlp_endpoint", "must be an http(s) URL");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(url: &str) -> String {
        let config = DatabaseConfig {
            url: url.to_owned(),
            ..DatabaseConfig::default()
        };
        format!("{config:?} {config:#?}")
    }

    #[test]
    fn printed_database_urls_keep_everything_but_the_password() {
        let printed_config = printed("postgres://gigmesh:hunter2@db:5432/users");
        assert!(!printed_config.contains("hunter2"), "{printed_config}");
        assert!(
            printed_config.contains("postgres://gigmesh:redacted@db:5432/users"),
            "{printed_config}"
        );
        assert!(
            printed_config.contains("max_connections: 10"),
            "{printed_config}"
        );
        let printed_config = printed("sqlite:///var/lib/gigmesh/users.db");
        assert!(
            printed_config.contains("sqlite:///var/lib/gigmesh/users.db"),
            "{printed_config}"
        );
    }

    #[test]
    fn passwords_are_hidden_even_where_the_url_does_not_parse() {
        for url in [
            "postgres://gigmesh:hunter2@db:not-a-port/users",
            "postgres://gigmesh:hun/ter2@db/users",
            "postgres://db/users?user=gigmesh&password=hunter2",
            "postgres://db:not-a-port/users?sslmode=require&password=hunter2",
        ] {
            let printed_config = printed(url);
            assert!(!printed_config.contains("hunter2"), "{printed_config}");
            assert!(!printed_config.contains("ter2"), "{printed_config}");
            assert!(printed_config.contains("db"), "{printed_config}");
        }
    }
}
