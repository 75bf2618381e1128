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
    /// Topic layout and consumer group membership on Kafka (kafka only).
    pub kafka: KafkaBusConfig,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            kind: BusKind::Embedded,
            embedded_path: PathBuf::from(".gigmesh/bus.db"),
            kafka_brokers: "127.0.0.1:9092".to_owned(),
            event_max_attempts: 5,
            kafka: KafkaBusConfig::default(),
        }
    }
}

/// Kafka topics and consumer groups (`bus.kafka.*`).
///
/// The defaults suit a single development broker; a production cluster wants more replicas
/// (the Helm chart sets 3 partitions and a replication factor of 3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaBusConfig {
    /// Whether a process creates the topics it uses when they are missing. When `false` the
    /// topics must exist already (made by whoever runs the cluster), and a missing one stops
    /// the process at start with its name.
    pub create_topics: bool,
    /// Partitions of created topics: the most consumer replicas that share a group's work.
    pub topic_partitions: u32,
    /// Copies of each partition of created topics; at most the number of brokers.
    pub topic_replication_factor: u32,
    /// How long a consumer group waits for a silent member before it moves the member's
    /// partitions to the others (`session.timeout.ms`). A replica that crashes and does not
    /// come back holds its partitions this long.
    pub session_timeout_seconds: u32,
    /// The longest a consumer's fetch waits at the broker for records to arrive
    /// (`fetch.wait.max.ms`). Apache Kafka answers a waiting fetch as soon as a record
    /// arrives, so there it only sets how often an idle consumer asks; a broker that holds
    /// every fetch for its whole wait (tansu does) adds up to twice this to each event's way.
    pub fetch_max_wait_ms: u32,
    /// The most records a producer sends in one batch of a partition
    /// (`batch.num.messages`); 0 keeps librdkafka's default (10,000). The outbox relay
    /// hands over up to 100 events at a time. Set 1 for tansu 0.6, which loses records of
    /// a batch of several for a consumer that resumes inside it.
    pub max_batch_records: u32,
    /// Whether consumers join their groups as static members (KIP-345): a replica that
    /// crashed and restarts under the same instance id takes its partitions back at once,
    /// instead of waiting out the session of its previous run; a replica that stops for good
    /// holds them until its session times out. Off by default: tansu, the development
    /// broker, keeps rebalancing a group with static members.
    pub static_membership: bool,
    /// This replica's identity with static membership (`group.instance.id` is
    /// `<consumer group>.<instance id>`). Empty means the `HOSTNAME` variable, which
    /// Kubernetes sets to the pod name, the same across restarts of its container. Two
    /// replicas running at the same time must not share it.
    pub instance_id: String,
}

impl Default for KafkaBusConfig {
    fn default() -> Self {
        Self {
            create_topics: true,
            topic_partitions: 3,
            topic_replication_factor: 1,
            session_timeout_seconds: 10,
            fetch_max_wait_ms: 50,
            max_batch_records: 0,
            static_membership: false,
            instance_id: String::new(),
        }
    }
}

impl Validate for KafkaBusConfig {
    fn validate(&self, path: &str, problems: &mut Problems) {
        if !(1..=10_000).contains(&self.topic_partitions) {
            problems.add(path, "topic_partitions", "must be between 1 and 10000");
        }
        if !(1..=32).contains(&self.topic_replication_factor) {
            problems.add(path, "topic_replication_factor", "must be between 1 and 32");
        }
        if !(1..=1800).contains(&self.session_timeout_seconds) {
            problems.add(
                path,
                "session_timeout_seconds",
                "must be between 1 and 1800",
            );
        }
        if !(1..=10_000).contains(&self.fetch_max_wait_ms) {
            problems.add(path, "fetch_max_wait_ms", "must be between 1 and 10000");
        }
        if self.max_batch_records > 1_000_000 {
            problems.add(path, "max_batch_records", "must be at most 1000000");
        }
        if self.instance_id.len() > 200
            || !self
                .instance_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            problems.add(
                path,
                "instance_id",
                "must be at most 200 of the characters a-z, A-Z, 0-9, '.', '_' and '-'",
            );
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
        self.kafka.validate(&crate::join(path, "kafka"), problems);
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
    fn kafka_topic_layout_and_membership_are_checked() {
        let defaults = KafkaBusConfig::default();
        assert!(defaults.create_topics);
        assert_eq!(
            (defaults.topic_partitions, defaults.topic_replication_factor),
            (3, 1)
        );
        assert_eq!(defaults.session_timeout_seconds, 10);
        assert_eq!(defaults.fetch_max_wait_ms, 50);
        assert_eq!(defaults.max_batch_records, 0);
        assert!(!defaults.static_membership);
        let mut problems = Problems::default();
        BusConfig::default().validate("bus", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");

        let mut problems = Problems::default();
        BusConfig {
            kafka: KafkaBusConfig {
                topic_partitions: 0,
                topic_replication_factor: 0,
                session_timeout_seconds: 0,
                fetch_max_wait_ms: 0,
                max_batch_records: 1_000_001,
                instance_id: "users 1".to_owned(),
                ..KafkaBusConfig::default()
            },
            ..BusConfig::default()
        }
        .validate("bus", &mut problems);
        let message = problems.finish().expect_err("invalid").to_string();
        for key in [
            "bus.kafka.topic_partitions",
            "bus.kafka.topic_replication_factor",
            "bus.kafka.session_timeout_seconds",
            "bus.kafka.fetch_max_wait_ms",
            "bus.kafka.max_batch_records",
            "bus.kafka.instance_id (GIGMESH__BUS__KAFKA__INSTANCE_ID)",
        ] {
            assert!(message.contains(key), "{key} missing in {message}");
        }
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn kafka_settings_come_from_nested_variables() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("GIGMESH__BUS__KAFKA_BROKERS", "kafka:9092");
            jail.set_env("GIGMESH__BUS__KAFKA__TOPIC_PARTITIONS", "6");
            jail.set_env("GIGMESH__BUS__KAFKA__TOPIC_REPLICATION_FACTOR", "3");
            jail.set_env("GIGMESH__BUS__KAFKA__CREATE_TOPICS", "false");
            jail.set_env("GIGMESH__BUS__KAFKA__INSTANCE_ID", "users-7d9f-x2");
            #[derive(Default, Serialize, Deserialize)]
            struct Root {
                bus: BusConfig,
            }
            impl Validate for Root {
                fn validate(&self, path: &str, problems: &mut Problems) {
                    self.bus.validate(&crate::join(path, "bus"), problems);
                }
            }
            let config = crate::load::<Root>(None).expect("loads").bus;
            assert_eq!(config.kafka_brokers, "kafka:9092");
            assert_eq!(config.kafka.topic_partitions, 6);
            assert_eq!(config.kafka.topic_replication_factor, 3);
            assert!(!config.kafka.create_topics);
            assert_eq!(config.kafka.instance_id, "users-7d9f-x2");
            assert_eq!(config.kafka.session_timeout_seconds, 10);
            Ok(())
        });
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
