//! The chat service's settings (`chat.settings`): how many messages a user may send per
//! minute, how often a stream says it is alive, how often timers run, and which replica
//! this is. How long a stream's events are kept for a client to resume is a retention rule
//! (`retention.horizon_hours.chat_stream_events`).

use std::time::Duration;

use gigmesh_config::{Problems, Validate};
use serde::{Deserialize, Serialize};

/// Prefix of this replica's consumer group on the chat topic, which wakes its streams.
const STREAM_CONSUMER_PREFIX: &str = "chat.streams.";

/// Settings of the chat service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Messages (custom offers included) one user may send per minute, over all their
    /// conversations (default 30); more are refused with `RESOURCE_EXHAUSTED`.
    pub max_messages_per_minute: u32,
    /// Longest silence on an open stream before a heartbeat, in seconds (default 25: well
    /// inside the 60 s idle timeout of common proxies).
    pub heartbeat_interval_seconds: u64,
    /// Pause between two runs of the timer loop (offer expiry, response-time window),
    /// seconds (default 1).
    pub timer_interval_seconds: u64,
    /// Offers expired per run of the timer loop (default 100).
    pub timer_batch_size: u32,
    /// This replica's name, unique among the chat replicas (each pod's name in Kubernetes):
    /// its consumer group on the chat topic is `chat.streams.<replica_id>`, so every
    /// replica hears of every event and wakes the streams it holds. Letters, digits, `-`,
    /// `_` and `.`.
    pub replica_id: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_messages_per_minute: 30,
            heartbeat_interval_seconds: 25,
            timer_interval_seconds: 1,
            timer_batch_size: 100,
            replica_id: "local".to_owned(),
        }
    }
}

impl Config {
    /// This replica's consumer group (and inbox name) on the chat topic.
    pub fn stream_consumer_name(&self) -> String {
        format!("{STREAM_CONSUMER_PREFIX}{}", self.replica_id)
    }

    /// The heartbeat interval.
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs(self.heartbeat_interval_seconds)
    }
}

impl Validate for Config {
    fn validate(&self, path: &str, problems: &mut Problems) {
        if self.max_messages_per_minute < 1 {
            problems.add(path, "max_messages_per_minute", "must be at least 1");
        }
        if !(1..=55).contains(&self.heartbeat_interval_seconds) {
            problems.add(
                path,
                "heartbeat_interval_seconds",
                "must be between 1 and 55 (proxies close streams idle for 60 s)",
            );
        }
        if self.timer_interval_seconds < 1 {
            problems.add(path, "timer_interval_seconds", "must be at least 1");
        }
        if self.timer_batch_size < 1 {
            problems.add(path, "timer_batch_size", "must be at least 1");
        }
        let replica_id_ok = !self.replica_id.is_empty()
            && self.replica_id.len() <= 100
            && self
                .replica_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !replica_id_ok {
            problems.add(
                path,
                "replica_id",
                "must be 1 to 100 letters, digits, '-', '_' or '.'",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_unknown_keys_are_refused() {
        let parsed: Config = serde_json::from_str("{}").expect("config");
        assert_eq!(parsed.max_messages_per_minute, 30);
        assert_eq!(parsed.heartbeat_interval_seconds, 25);
        assert_eq!(parsed.stream_consumer_name(), "chat.streams.local");
        assert!(gigmesh_config::check(&parsed, "chat.settings").is_ok());
        assert!(serde_json::from_str::<Config>(r#"{"nope": 1}"#).is_err());
    }

    #[test]
    fn every_problem_is_named() {
        let bad = Config {
            max_messages_per_minute: 0,
            heartbeat_interval_seconds: 60,
            timer_batch_size: 0,
            replica_id: "a b".to_owned(),
            ..Config::default()
        };
        let text = gigmesh_config::check(&bad, "chat.settings")
            .expect_err("refused")
            .to_string();
        for key in [
            "chat.settings.max_messages_per_minute",
            "chat.settings.heartbeat_interval_seconds",
            "chat.settings.timer_batch_size",
            "chat.settings.replica_id",
        ] {
            assert!(text.contains(key), "{key}: {text}");
        }
    }
}
