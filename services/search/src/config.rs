//! The search service's settings (`search.settings`): which index adapter answers, where
//! its index lives, how often it commits, and the name of this replica. [`Validate`] reports every problem at once
//! before the service is built.

use std::time::Duration;

use gigmesh_config::{Problems, Validate};
use serde::{Deserialize, Serialize};

/// Prefix of the consumer group (and inbox name) on the gigs topic; the replica id follows.
pub const CONSUMER_NAME_PREFIX: &str = "search.gigs-events.";

/// Largest accepted `index_commit_max_batch`.
const MAX_INDEX_COMMIT_BATCH: u32 = 100_000;
/// Accepted `index_commit_interval_seconds`, inclusive.
const INDEX_COMMIT_INTERVAL_SECONDS: std::ops::RangeInclusive<f64> = 0.001..=60.0;

/// Which [`SearchIndex`](crate::SearchIndex) adapter the service answers from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    /// An embedded tantivy index per replica (`index_dir`).
    Tantivy,
    /// One OpenSearch index shared by every replica (`opensearch_url`, `opensearch_index`).
    Opensearch,
}

/// Settings of the search service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The index adapter: `"tantivy"` (default) or `"opensearch"`.
    pub index_kind: IndexKind,
    /// Directory of the tantivy index; empty keeps the index in memory (tests), rebuilt from
    /// the database at every start. Unused with OpenSearch.
    pub index_dir: String,
    /// Base URL of the OpenSearch cluster (`http://` or `https://`), required with
    /// `index_kind = "opensearch"`.
    pub opensearch_url: String,
    /// Name of the OpenSearch index: lower case, at most 255 bytes, none of
    /// `\ / * ? " < > | , #`, spaces or `:`, not starting with `-`, `_` or `+`.
    pub opensearch_index: String,
    /// Name of this replica, unique among the search replicas: each replica keeps its own
    /// index and reads every gig event itself, in consumer group
    /// `search.gigs-events.<replica_id>`. Letters, digits, `-`, `_` and `.`.
    pub replica_id: String,
    /// Gigs changed by consumed events that make the index commit at once (1 to 100 000);
    /// fewer are committed `index_commit_interval_seconds` after the first of them.
    pub index_commit_max_batch: u32,
    /// Longest wait, in seconds (fractions allowed, 0.001 to 60), between a consumed change
    /// and the index commit that makes it searchable. The default 0.25 keeps a paused gig
    /// out of results within a second in dev mode.
    pub index_commit_interval_seconds: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            index_kind: IndexKind::Tantivy,
            index_dir: String::new(),
            opensearch_url: String::new(),
            opensearch_index: "gigmesh-gigs".to_owned(),
            replica_id: "local".to_owned(),
            index_commit_max_batch: 500,
            index_commit_interval_seconds: 0.25,
        }
    }
}

impl Validate for Config {
    fn validate(&self, path: &str, problems: &mut Problems) {
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
        if self.index_kind == IndexKind::Opensearch {
            let url_ok = url::Url::parse(&self.opensearch_url).is_ok_and(|url| {
                matches!(url.scheme(), "http" | "https") && url.host_str().is_some()
            });
            if !url_ok {
                problems.add(
                    path,
                    "opensearch_url",
                    "must be an http:// or https:// URL with a host",
                );
            }
        }
        if !(1..=MAX_INDEX_COMMIT_BATCH).contains(&self.index_commit_max_batch) {
            problems.add(
                path,
                "index_commit_max_batch",
                format!("must be 1 to {MAX_INDEX_COMMIT_BATCH}"),
            );
        }
        if !INDEX_COMMIT_INTERVAL_SECONDS.contains(&self.index_commit_interval_seconds) {
            problems.add(
                path,
                "index_commit_interval_seconds",
                "must be 0.001 to 60 seconds",
            );
        }
        if !valid_opensearch_index(&self.opensearch_index) {
            problems.add(
                path,
                "opensearch_index",
                "must be 1 to 255 bytes of lower case, not starting with '-', '_' or '+', \
                 without spaces or any of \\ / * ? \" < > | , # :",
            );
        }
    }
}

/// Whether `name` is a valid OpenSearch index name.
fn valid_opensearch_index(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.starts_with(['-', '_', '+'])
        && !name.chars().any(|c| {
            c.is_uppercase()
                || c.is_whitespace()
                || matches!(
                    c,
                    '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ':'
                )
        })
}

impl Config {
    /// Consumer group (and inbox name) of this replica on `gigmesh.gigs.v1`.
    pub fn consumer_name(&self) -> String {
        format!("{CONSUMER_NAME_PREFIX}{}", self.replica_id)
    }

    /// Longest wait between a consumed change and its index commit.
    pub fn index_commit_interval(&self) -> Duration {
        Duration::try_from_secs_f64(self.index_commit_interval_seconds)
            .unwrap_or(Duration::from_millis(250))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `config` passes validation as the service's settings.
    fn is_valid(config: &Config) -> bool {
        gigmesh_config::check(config, "search.settings").is_ok()
    }

    #[test]
    fn the_defaults_are_valid_and_bad_values_are_not() {
        assert!(is_valid(&Config::default()));
        assert_eq!(
            Config::default().consumer_name(),
            "search.gigs-events.local"
        );
        for replica_id in ["", "a b", "ä"] {
            let config = Config {
                replica_id: replica_id.to_owned(),
                ..Config::default()
            };
            assert!(!is_valid(&config), "{replica_id:?}");
        }
    }

    #[test]
    fn index_commits_are_batched_by_a_bounded_count_and_interval() {
        let defaults = Config::default();
        assert_eq!(defaults.index_commit_max_batch, 500);
        assert!(defaults.index_commit_interval() < Duration::from_secs(1));
        let commits = |max_batch: u32, interval_seconds: f64| Config {
            index_commit_max_batch: max_batch,
            index_commit_interval_seconds: interval_seconds,
            ..Config::default()
        };
        assert!(is_valid(&commits(1, 0.001)));
        assert!(is_valid(&commits(100_000, 60.0)));
        assert_eq!(
            commits(1, 0.05).index_commit_interval(),
            Duration::from_millis(50)
        );
        for (max_batch, interval_seconds) in [(0, 0.25), (100_001, 0.25), (500, 0.0), (500, 61.0)] {
            assert!(
                !is_valid(&commits(max_batch, interval_seconds)),
                "{max_batch} {interval_seconds}"
            );
        }
        let parsed: Config = serde_json::from_value(serde_json::json!({
            "index_commit_max_batch": 50,
            "index_commit_interval_seconds": 0.5
        }))
        .unwrap();
        assert_eq!(parsed.index_commit_interval(), Duration::from_millis(500));
    }

    #[test]
    fn the_opensearch_index_needs_a_url_and_a_valid_index_name() {
        assert_eq!(Config::default().opensearch_index, "gigmesh-gigs");
        let opensearch = |url: &str, index: &str| Config {
            index_kind: IndexKind::Opensearch,
            opensearch_url: url.to_owned(),
            opensearch_index: index.to_owned(),
            ..Config::default()
        };
        assert!(is_valid(&opensearch(
            "http://opensearch:9200",
            "gigmesh-gigs"
        )));
        assert!(is_valid(&opensearch("https://search.internal", "gigs.v2")));
        for url in ["", "opensearch:9200", "ftp://opensearch", "http://"] {
            assert!(!is_valid(&opensearch(url, "gigmesh-gigs")), "{url:?}");
        }
        for index in ["", "Gigs", "_gigs", "-gigs", "gi gs", "gigs/1", "a:b", ".."] {
            assert!(
                !is_valid(&opensearch("http://opensearch:9200", index)),
                "{index:?}"
            );
        }
        let parsed: Config = serde_json::from_value(serde_json::json!({
            "index_kind": "opensearch",
            "opensearch_url": "http://localhost:9200"
        }))
        .unwrap();
        assert_eq!(parsed.index_kind, IndexKind::Opensearch);
        assert_eq!(parsed.opensearch_index, "gigmesh-gigs");
        assert!(
            serde_json::from_value::<Config>(serde_json::json!({ "index_kind": "solr" })).is_err()
        );
    }
}
