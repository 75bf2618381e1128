//! Configuration and assembly of the search service.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use gigmesh_config::{Problems, Validate};
use gigmesh_events::{BackgroundTask, Consumer, ConsumerSpec};
use gigmesh_proto::search::search_service_server::{SERVICE_NAME, SearchServiceServer};
use gigmesh_runtime::{Description, Service, ServiceDeps};
use serde::{Deserialize, Serialize};
use tonic::service::Routes;

use crate::api::SearchApi;
use crate::events::{CONSUMER_NAME_PREFIX, GigEventsHandler, document_from_stored};
use crate::index::{OpenSearchIndex, SearchIndex, TantivyIndex};
use crate::store;

/// Migrations of the service's own tables.
pub static MIGRATIONS: gigmesh_db::Migrations = gigmesh_db::migrations!();

/// Which [`SearchIndex`] adapter the service answers from.
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
    /// Checks the configuration as a whole (see [`Validate`]); the error lists every problem.
    pub fn check(&self) -> anyhow::Result<()> {
        Ok(gigmesh_config::check(self, "search.settings")?)
    }

    /// Consumer group (and inbox name) of this replica on `gigmesh.gigs.v1`.
    pub fn consumer_name(&self) -> String {
        format!("{CONSUMER_NAME_PREFIX}{}", self.replica_id)
    }
}

/// The search service, built from its ports.
#[derive(Clone)]
pub struct App {
    deps: ServiceDeps,
    config: Config,
    index: Arc<dyn SearchIndex>,
}

#[async_trait::async_trait]
impl Service for App {
    type Config = Config;

    const DESCRIPTION: Description = Description {
        name: "search",
        summary: "Gig search: keywords, filters, facets, suggestions.",
        grpc_services: &[SERVICE_NAME],
        produces: &[],
        consumes: &[gigmesh_proto::gigs::TOPIC],
        migrations: &[&MIGRATIONS, &gigmesh_events::EVENTS_MIGRATIONS],
        default_port: 50055,
        issues_tokens: false,
    };

    /// Opens the index `index_kind` names (tantivy in `index_dir` or in memory, or the
    /// OpenSearch index, created on first use); an empty index (new, in memory, or
    /// discarded for a new schema) is rebuilt from the stored snapshots.
    async fn assemble(deps: ServiceDeps, config: Config) -> anyhow::Result<App> {
        let index: Arc<dyn SearchIndex> = match config.index_kind {
            IndexKind::Opensearch => Arc::new(OpenSearchIndex::connect(
                &config.opensearch_url,
                &config.opensearch_index,
            )?),
            IndexKind::Tantivy if config.index_dir.is_empty() => {
                Arc::new(TantivyIndex::in_memory()?)
            }
            IndexKind::Tantivy => {
                let directory = config.index_dir.clone();
                Arc::new(
                    tokio::task::spawn_blocking(move || TantivyIndex::open(Path::new(&directory)))
                        .await
                        .context("open the search index")??,
                )
            }
        };
        let app = App {
            deps,
            config,
            index,
        };
        if app.index.count().await? == 0 {
            let indexed = app.rebuild_index().await?;
            tracing::info!(indexed, "search index built from the stored gig snapshots");
        }
        Ok(app)
    }

    /// `gigmesh.search.v1.SearchService` (public methods), behind the caller layer.
    fn routes(&self) -> Routes {
        let server = SearchServiceServer::new(SearchApi::new(self.index.clone()));
        gigmesh_grpc::with_caller(Routes::new(server), self.deps.verifier.clone())
    }

    /// The gigs events consumer (search emits no events, so it has no relay).
    fn background(&self) -> Vec<Box<dyn BackgroundTask>> {
        vec![Box::new(self.gigs_events())]
    }

    /// Dev mode keeps the index under the data directory unless one is configured.
    fn use_data_dir(config: &mut Config, data_dir: &Path) {
        if config.index_dir.is_empty() {
            config.index_dir = data_dir.join("search-index").display().to_string();
        }
    }
}

impl App {
    /// The index the service answers from.
    pub fn index(&self) -> Arc<dyn SearchIndex> {
        self.index.clone()
    }

    /// The consumer of the gigs service's events, not yet subscribed. Its group is this
    /// replica's own (`search.gigs-events.<replica_id>`), so every replica sees every event.
    pub fn gigs_events(&self) -> ConsumerSpec {
        self.deps.consumer(
            &self.config.consumer_name(),
            &[gigmesh_proto::gigs::TOPIC],
            Arc::new(GigEventsHandler::new(
                self.deps.db.clone(),
                self.index.clone(),
            )),
        )
    }

    /// The consumer of the gigs service's events, subscribed, for the caller to step with
    /// `poll_once`.
    pub async fn gigs_events_consumer(&self) -> anyhow::Result<Consumer> {
        Ok(self.gigs_events().subscribe().await?)
    }

    /// Rebuilds the index from the stored snapshots of visible gigs; returns how many gigs
    /// it indexed. Searches keep answering from the old content until the final commit;
    /// a gig event applied meanwhile commits early, so a search may then briefly see a
    /// partial index.
    pub async fn rebuild_index(&self) -> anyhow::Result<u64> {
        self.index.clear().await?;
        let mut indexed = 0_u64;
        let mut after = String::new();
        loop {
            let batch = store::visible_snapshots_after(self.deps.db.pool(), &after).await?;
            let Some((last_gig_id, _)) = batch.last() else {
                break;
            };
            after = last_gig_id.clone();
            for (gig_id, snapshot) in &batch {
                let gig_id = uuid::Uuid::parse_str(gig_id)
                    .with_context(|| format!("stored gig id {gig_id:?}"))?;
                if let Some(document) = document_from_stored(gig_id, snapshot)? {
                    self.index.upsert(document).await?;
                    indexed += 1;
                }
            }
        }
        self.index.commit().await?;
        Ok(indexed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_bad_values_are_not() {
        assert!(Config::default().check().is_ok());
        assert_eq!(
            Config::default().consumer_name(),
            "search.gigs-events.local"
        );
        for replica_id in ["", "a b", "ä"] {
            let config = Config {
                replica_id: replica_id.to_owned(),
                ..Config::default()
            };
            assert!(config.check().is_err(), "{replica_id:?}");
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
        assert!(
            opensearch("http://opensearch:9200", "gigmesh-gigs")
                .check()
                .is_ok()
        );
        assert!(
            opensearch("https://search.internal", "gigs.v2")
                .check()
                .is_ok()
        );
        for url in ["", "opensearch:9200", "ftp://opensearch", "http://"] {
            assert!(opensearch(url, "gigmesh-gigs").check().is_err(), "{url:?}");
        }
        for index in ["", "Gigs", "_gigs", "-gigs", "gi gs", "gigs/1", "a:b", ".."] {
            assert!(
                opensearch("http://opensearch:9200", index).check().is_err(),
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
