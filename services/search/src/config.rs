//! The search service's settings (`search.settings`): which index adapter answers, where
//! its index lives, and the name of this replica. [`Validate`] reports every problem at once
//! before the service is built.

use gigmesh_config::{Problems, Validate};
use serde::{Deserialize, Serialize};

/// Prefix of the consumer group (and inbox name) on the gigs topic; the replica id follows.
pub const CONSUMER_NAME_PREFIX: &str = "search.gigs-events.";

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
}

impl Default for Config {
    fn default() -> Self {
        Self {
            index_kind: IndexKind::Tantivy,
            index_dir: String::new(),
            opensearch_url: String::new(),
            opensearch_index: "gigmesh-gigs".to_owned(),
            replica_id: "local".to_owned(),
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
