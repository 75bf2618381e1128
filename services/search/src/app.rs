//! Assembly of the search service: the index adapter its settings name, the gRPC routes
//! over it, and the consumer of the gigs service's events that keeps it in line.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use gigmesh_events::{BackgroundTask, Consumer, ConsumerSpec};
use gigmesh_proto::search::search_service_server::{SERVICE_NAME, SearchServiceServer};
use gigmesh_runtime::{Description, Service, ServiceDeps};
use tonic::service::Routes;

use crate::api::SearchApi;
use crate::commits::{CommitPolicy, IndexCommits, IndexFlusher, system_clock};
use crate::config::{Config, IndexKind};
use crate::events::GigEventsHandler;
use crate::index::{OpenSearchIndex, SearchIndex, TantivyIndex};
use crate::sync;

/// Migrations of the service's own tables.
pub static MIGRATIONS: gigmesh_db::Migrations = gigmesh_db::migrations!();

/// The search service, built from its ports.
#[derive(Clone)]
pub struct App {
    deps: ServiceDeps,
    config: Config,
    index: Arc<dyn SearchIndex>,
    commits: Arc<IndexCommits>,
}

#[async_trait::async_trait]
impl Service for App {
    type Config = Config;

    const DESCRIPTION: Description = Description {
        name: "search",
        summary: "Gig search: keywords, filters, facets, suggestions.",
        grpc_services: &[SERVICE_NAME],
        produces: &[],
        consumes: &[gigmesh_proto::gigs::TOPIC, gigmesh_proto::auth::TOPIC],
        migrations: &[
            &MIGRATIONS,
            &gigmesh_events::EVENTS_MIGRATIONS,
            &gigmesh_runtime::REVOCATION_MIGRATIONS,
        ],
        default_port: 50055,
        issues_tokens: false,
        retention: &[],
    };

    /// Opens the index `index_kind` names (tantivy in `index_dir` or in memory, or the
    /// OpenSearch index, created on first use); an empty index (new, in memory, or
    /// discarded for a new schema) is rebuilt from the stored snapshots. Then the gigs this
    /// replica's consumer marked but whose index commit never happened (the process
    /// stopped in between) are staged again and committed.
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
        let commits = Arc::new(IndexCommits::new(
            deps.db.clone(),
            index.clone(),
            &config.consumer_name(),
            CommitPolicy {
                max_batch: config.index_commit_max_batch as usize,
                interval: config.index_commit_interval(),
            },
            system_clock(),
        ));
        let app = App {
            deps,
            config,
            index,
            commits,
        };
        if app.index.count().await? == 0 {
            let indexed = app.rebuild_index().await?;
            tracing::info!(indexed, "search index built from the stored gig snapshots");
        }
        let recovered = app.commits.flush().await?;
        if recovered > 0 {
            tracing::info!(
                recovered,
                "uncommitted gig changes staged again in the search index"
            );
        }
        Ok(app)
    }

    /// `gigmesh.search.v1.SearchService` (public methods), behind the caller layer.
    fn routes(&self) -> Routes {
        let server = SearchServiceServer::new(SearchApi::new(self.index.clone()));
        gigmesh_grpc::with_caller(Routes::new(server), self.deps.verifier.clone())
    }

    /// The gigs events consumer (search emits no events, so it has no relay) and the
    /// flusher that commits its index changes once they are due.
    fn background(&self) -> Vec<Box<dyn BackgroundTask>> {
        let mut tasks: Vec<Box<dyn BackgroundTask>> =
            vec![Box::new(self.gigs_events()), Box::new(self.index_flusher())];
        tasks.extend(self.deps.revocation_tasks(Self::DESCRIPTION.name));
        tasks
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
            Arc::new(GigEventsHandler::new(self.commits.clone())),
        )
    }

    /// The task that commits the consumer's index changes once
    /// `index_commit_interval_seconds` passed since the first uncommitted one.
    pub fn index_flusher(&self) -> IndexFlusher {
        IndexFlusher::new(self.commits.clone())
    }

    /// Commits every index change the consumer made so far, due or not (the flusher does
    /// this on its own within the interval); returns how many gigs it staged.
    pub async fn commit_index_changes(&self) -> anyhow::Result<u64> {
        Ok(self.commits.flush().await?)
    }

    /// The consumer of the gigs service's events, subscribed, for the caller to step with
    /// `poll_once`.
    pub async fn gigs_events_consumer(&self) -> anyhow::Result<Consumer> {
        Ok(self.gigs_events().subscribe().await?)
    }

    /// Rebuilds the index from the stored snapshots of visible gigs; returns how many gigs
    /// it indexed. Searches keep answering from the old content until the final commit;
    /// a batch of gig changes committed meanwhile commits early, so a search may then
    /// briefly see a partial index.
    pub async fn rebuild_index(&self) -> anyhow::Result<u64> {
        Ok(sync::rebuild_index(&self.deps.db, self.index.as_ref()).await?)
    }
}
