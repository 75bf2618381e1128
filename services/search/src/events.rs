//! The gigs service's `GigChanged` snapshots (`gigmesh.gigs.v1`), the only input of search.
//!
//! A snapshot is stored in `gig_documents` with its version in the consumer's transaction
//! (with the inbox row), unless a newer one is stored already, and its gig is marked pending
//! for this consumer's index in the same transaction. Only after that transaction commits
//! does the index follow, in batches ([`IndexCommits`]), and it follows the stored row, not
//! the event: an older or duplicate snapshot leaves the index as the database says, and a
//! replica whose index lags behind a shared database catches up on the next event of the
//! gig.

use std::sync::Arc;

use async_trait::async_trait;
use gigmesh_db::Tx;
use gigmesh_events::{Envelope, EventHandler, HandlerError, decode};
use gigmesh_proto::gigs::GigChanged;
use gigmesh_types::now_millis;
use prost::Message as _;

use crate::commits::IndexCommits;
use crate::snapshot::{self, SnapshotError};
use crate::store;

/// Stores `GigChanged` snapshots and, once committed, has the index follow in batches.
pub struct GigEventsHandler {
    commits: Arc<IndexCommits>,
}

impl GigEventsHandler {
    /// A handler marking changes for (and noting them to) `commits`.
    pub fn new(commits: Arc<IndexCommits>) -> Self {
        Self { commits }
    }
}

#[async_trait]
impl EventHandler for GigEventsHandler {
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError> {
        let Some(event) = decode::<GigChanged>(envelope) else {
            return Ok(());
        };
        let event = event?;
        let gig = event
            .gig
            .as_ref()
            .ok_or_else(|| HandlerError::permanent(SnapshotError::MissingGig))?;
        let gig_id = snapshot::gig_id_of(gig).map_err(HandlerError::permanent)?;
        // A visible snapshot that cannot become a document is refused before it is stored.
        snapshot::document_from_snapshot(gig).map_err(HandlerError::permanent)?;
        let stored = store::save_snapshot(
            tx,
            gig_id,
            event.version,
            snapshot::is_visible(gig),
            &gig.encode_to_vec(),
            now_millis(),
        )
        .await?;
        if !stored {
            tracing::debug!(gig_id = %gig_id, version = event.version, "older gig snapshot ignored");
        }
        // Marked even when older: the index follows the stored row, which this replica's
        // index may not have yet.
        store::mark_pending(tx, self.commits.consumer(), gig_id, event.version).await?;
        Ok(())
    }

    async fn after_commit(&self, envelope: &Envelope) {
        if let Some(Ok(_)) = decode::<GigChanged>(envelope) {
            self.commits.note_change().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use gigmesh_events::Consumer;
    use gigmesh_proto::gigs::{
        Gig, GigChange, GigState, ModerationState, Package, PackageTier, SellerSummary,
    };
    use gigmesh_proto::types::Money;
    use gigmesh_runtime::Service as _;
    use gigmesh_testing::{Backend, TestDeps, publish_event};
    use gigmesh_types::{Currency, GigId};
    use uuid::Uuid;

    use super::*;
    use crate::commits::{Clock, CommitPolicy};
    use crate::domain::{Filters, GigDocument, SearchQuery, SearchResults, Sort, Suggestion};
    use crate::index::{IndexError, SearchIndex, TantivyIndex};

    /// Events fed through the consumer in one go.
    const EVENTS: u64 = 200;
    /// Changes that make the consumer commit in these tests.
    const MAX_BATCH: u64 = 50;
    /// Longest wait for a commit in these tests, on the hand-moved clock.
    const INTERVAL: Duration = Duration::from_millis(250);
    /// How long one consumer step waits for a record.
    const STEP_WAIT: Duration = Duration::from_millis(200);

    /// A clock that moves only when told.
    #[derive(Clone)]
    struct ManualClock(Arc<Mutex<Instant>>);

    impl ManualClock {
        fn new() -> Self {
            Self(Arc::new(Mutex::new(Instant::now())))
        }

        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }

        fn clock(&self) -> Clock {
            let now = self.0.clone();
            Arc::new(move || *now.lock().unwrap())
        }
    }

    /// A tantivy index in memory that counts its commits.
    struct CountingIndex {
        inner: TantivyIndex,
        commits: AtomicU64,
    }

    impl CountingIndex {
        fn new() -> Self {
            Self {
                inner: TantivyIndex::in_memory().expect("an index in memory"),
                commits: AtomicU64::new(0),
            }
        }

        fn commits(&self) -> u64 {
            self.commits.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl SearchIndex for CountingIndex {
        async fn upsert(&self, document: GigDocument) -> Result<(), IndexError> {
            self.inner.upsert(document).await
        }

        async fn remove(&self, gig_id: Uuid) -> Result<(), IndexError> {
            self.inner.remove(gig_id).await
        }

        async fn clear(&self) -> Result<(), IndexError> {
            self.inner.clear().await
        }

        async fn commit(&self) -> Result<(), IndexError> {
            self.commits.fetch_add(1, Ordering::SeqCst);
            self.inner.commit().await
        }

        async fn count(&self) -> Result<u64, IndexError> {
            self.inner.count().await
        }

        async fn search(&self, query: &SearchQuery) -> Result<SearchResults, IndexError> {
            self.inner.search(query).await
        }

        async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, IndexError> {
            self.inner.suggest(prefix, limit).await
        }

        async fn similar(
            &self,
            gig_id: Uuid,
            limit: usize,
        ) -> Result<Option<Vec<GigDocument>>, IndexError> {
            self.inner.similar(gig_id, limit).await
        }
    }

    /// An active, approved gig of the seller `ada`.
    fn draft_of_ada(number: u64) -> Gig {
        Gig {
            id: GigId::new().to_string(),
            title: format!("Logo design number {number}"),
            state: GigState::Active as i32,
            moderation_state: ModerationState::Approved as i32,
            packages: vec![Package {
                tier: PackageTier::Basic as i32,
                price: Some(Money {
                    amount_minor: 4_000,
                    currency: "USD".to_owned(),
                }),
                delivery_days: 3,
                ..Package::default()
            }],
            seller: Some(SellerSummary {
                username: "ada".to_owned(),
                country: "GB".to_owned(),
                ..SellerSummary::default()
            }),
            ..Gig::default()
        }
    }

    /// Publishes an `Updated` snapshot of `gig` at `version` on the gigs topic.
    async fn publish(deps: &TestDeps, gig: &Gig, version: i64) {
        let event = GigChanged {
            change: GigChange::Updated as i32,
            gig: Some(gig.clone()),
            version,
        };
        publish_event(&deps.bus(), &gig.id, &event).await;
    }

    /// The batched commits of consumer `consumer` into `index` over the deps' database.
    fn commits_of(
        deps: &TestDeps,
        consumer: &str,
        index: Arc<dyn SearchIndex>,
        clock: &ManualClock,
    ) -> Arc<IndexCommits> {
        Arc::new(IndexCommits::new(
            deps.db().clone(),
            index,
            consumer,
            CommitPolicy {
                max_batch: MAX_BATCH as usize,
                interval: INTERVAL,
            },
            clock.clock(),
        ))
    }

    /// A subscribed consumer of the gigs topic on migrated `deps`, writing through
    /// `commits`.
    async fn consumer_over(deps: &TestDeps, commits: Arc<IndexCommits>) -> Consumer {
        gigmesh_runtime::migrate(&crate::App::DESCRIPTION, deps.db())
            .await
            .expect("migrate");
        let name = commits.consumer().to_owned();
        deps.service_deps()
            .consumer(
                &name,
                &[gigmesh_proto::gigs::TOPIC],
                Arc::new(GigEventsHandler::new(commits)),
            )
            .subscribe()
            .await
            .expect("subscribe")
    }

    /// The titles of the gigs in `index` matching `keywords`.
    async fn titles(index: &dyn SearchIndex, keywords: &str) -> Vec<String> {
        let query = SearchQuery {
            text: keywords.to_owned(),
            filters: Filters::default(),
            facet_currency: Currency::USD,
            sort: Sort::Relevance,
            limit: 20,
            after: None,
        };
        let results = index.search(&query).await.expect("search");
        results
            .hits
            .into_iter()
            .map(|hit| hit.document.title)
            .collect()
    }

    #[tokio::test]
    async fn a_burst_of_gig_events_is_committed_to_the_index_in_few_batches() {
        let deps = TestDeps::new(Backend::Sqlite).await;
        let index = Arc::new(CountingIndex::new());
        let clock = ManualClock::new();
        let commits = commits_of(&deps, "search.gigs-events.test", index.clone(), &clock);
        let mut consumer = consumer_over(&deps, commits.clone()).await;
        for number in 0..EVENTS {
            publish(&deps, &draft_of_ada(number), 1).await;
        }
        let outcomes = consumer.drain(STEP_WAIT).await.expect("drain");
        assert_eq!(outcomes.len() as u64, EVENTS);

        let made = index.commits();
        assert!(
            made <= EVENTS / MAX_BATCH + 1,
            "{EVENTS} events made {made} index commits"
        );
        assert_eq!(index.count().await.expect("count"), EVENTS);
        // Every batch was full, so nothing is left for the flusher.
        assert_eq!(commits.flush().await.expect("flush"), 0);
        assert_eq!(index.commits(), made);
    }

    #[tokio::test]
    async fn a_change_applied_alone_is_searchable_once_the_interval_passed() {
        let deps = TestDeps::new(Backend::Sqlite).await;
        let index = Arc::new(CountingIndex::new());
        let clock = ManualClock::new();
        let commits = commits_of(&deps, "search.gigs-events.test", index.clone(), &clock);
        let mut consumer = consumer_over(&deps, commits.clone()).await;
        let gig = draft_of_ada(1);
        publish(&deps, &gig, 1).await;
        assert_eq!(consumer.drain(STEP_WAIT).await.expect("drain").len(), 1);

        // Not due yet: nothing committed, nothing searchable.
        assert_eq!(commits.until_due(), Some(INTERVAL));
        assert!(!commits.flush_if_due().await.expect("flush"));
        assert!(titles(index.as_ref(), "logo").await.is_empty());

        clock.advance(INTERVAL - Duration::from_millis(1));
        assert!(!commits.flush_if_due().await.expect("flush"));
        clock.advance(Duration::from_millis(1));
        assert!(commits.flush_if_due().await.expect("flush"));
        assert_eq!(titles(index.as_ref(), "logo").await, [gig.title.as_str()]);
        assert_eq!(index.commits(), 1);

        // Nothing noted since: the next steps commit nothing.
        assert_eq!(commits.until_due(), None);
        clock.advance(INTERVAL);
        assert!(!commits.flush_if_due().await.expect("flush"));
        assert_eq!(index.commits(), 1);
    }

    #[tokio::test]
    async fn changes_whose_index_commit_never_happened_are_staged_again() {
        let deps = TestDeps::new(Backend::Sqlite).await;
        let clock = ManualClock::new();
        let consumer_name = "search.gigs-events.test";
        let index = Arc::new(CountingIndex::new());
        let before_the_crash = commits_of(&deps, consumer_name, index.clone(), &clock);
        let mut consumer = consumer_over(&deps, before_the_crash.clone()).await;
        let mut paused = draft_of_ada(1);
        publish(&deps, &paused, 1).await;
        assert_eq!(consumer.drain(STEP_WAIT).await.expect("drain").len(), 1);
        assert_eq!(before_the_crash.flush().await.expect("flush"), 1);

        // The database commits two changes; the process stops before the index commits.
        let added = draft_of_ada(2);
        publish(&deps, &added, 1).await;
        paused.state = GigState::Paused as i32;
        publish(&deps, &paused, 2).await;
        assert_eq!(consumer.drain(STEP_WAIT).await.expect("drain").len(), 2);
        drop(consumer);
        drop(before_the_crash);
        assert_eq!(
            titles(index.as_ref(), "logo").await,
            [paused.title.as_str()]
        );

        let restarted = commits_of(&deps, consumer_name, index.clone(), &clock);
        assert_eq!(restarted.flush().await.expect("flush"), 2);
        assert_eq!(titles(index.as_ref(), "logo").await, [added.title.as_str()]);
        // Committed and unmarked: the next flush finds nothing.
        assert_eq!(restarted.flush().await.expect("flush"), 0);
    }
}
