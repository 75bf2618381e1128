//! Batched index commits. A tantivy commit (with its reader reload) or an OpenSearch
//! refresh per gig event is far too costly when one profile edit re-emits thousands of gig
//! snapshots, so the index commits a batch of changes: once `index_commit_max_batch` gigs
//! changed, or `index_commit_interval_seconds` after the first uncommitted change (the
//! [`IndexFlusher`] task looks for that when events stop arriving).
//!
//! The `gig_documents` table stays the source of truth. Each consumed snapshot marks its gig
//! in `pending_index_changes` in the consumer's transaction, and a flush stages the marked
//! gigs from the table, commits the index and only then unmarks them. A batch that never
//! reached its index commit (a crash after the database commit, an index failure) is still
//! marked, so the next flush — at the latest the one [`App`](crate::App) runs on start —
//! stages it again; staging the same snapshot twice ends in the same index.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gigmesh_db::Db;
use gigmesh_events::BackgroundTask;
use tokio_util::sync::CancellationToken;

use crate::error::SearchError;
use crate::index::SearchIndex;
use crate::store;
use crate::sync;

/// Tells the current instant; tests pass one they move by hand.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Instant::now)
}

/// When to commit the index.
#[derive(Debug, Clone, Copy)]
pub struct CommitPolicy {
    /// Changes noted since the last flush that make the consumer flush at once.
    pub max_batch: usize,
    /// Longest wait between the first uncommitted change and its commit.
    pub interval: Duration,
}

/// Changes noted since the last flush started.
#[derive(Debug, Default, Clone, Copy)]
struct Uncommitted {
    changes: usize,
    first_change: Option<Instant>,
}

/// The index writes of one consumer, committed in batches (see the module docs).
pub struct IndexCommits {
    db: Db,
    index: Arc<dyn SearchIndex>,
    consumer: String,
    policy: CommitPolicy,
    clock: Clock,
    uncommitted: Mutex<Uncommitted>,
    /// Held by the flush in progress: the consumer and the flusher never flush together.
    flushing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for IndexCommits {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("IndexCommits")
            .field("consumer", &self.consumer)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl IndexCommits {
    /// Batched commits of the changes `consumer` marks, staged from `db` into `index`.
    pub fn new(
        db: Db,
        index: Arc<dyn SearchIndex>,
        consumer: &str,
        policy: CommitPolicy,
        clock: Clock,
    ) -> Self {
        Self {
            db,
            index,
            consumer: consumer.to_owned(),
            policy: CommitPolicy {
                max_batch: policy.max_batch.max(1),
                interval: policy.interval,
            },
            clock,
            uncommitted: Mutex::new(Uncommitted::default()),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    /// The consumer whose marks this flushes (its inbox name).
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// Notes a change the consumer marked and committed; flushes once the batch is full.
    /// A failed flush is logged: the changes stay marked for the next one.
    pub async fn note_change(&self) {
        let full = {
            let mut uncommitted = self.lock_uncommitted();
            uncommitted.changes += 1;
            uncommitted
                .first_change
                .get_or_insert_with(|| (self.clock)());
            uncommitted.changes >= self.policy.max_batch
        };
        if full && let Err(error) = self.flush().await {
            tracing::error!(consumer = %self.consumer, error = %error, "cannot commit the search index");
        }
    }

    /// How long until the noted changes are due, `None` when none are noted.
    pub fn until_due(&self) -> Option<Duration> {
        let first_change = self.lock_uncommitted().first_change?;
        let waited = (self.clock)().saturating_duration_since(first_change);
        Some(self.policy.interval.saturating_sub(waited))
    }

    /// One step of the flusher: flushes when the first noted change waited the interval;
    /// returns whether it flushed.
    pub async fn flush_if_due(&self) -> Result<bool, SearchError> {
        if self.until_due() != Some(Duration::ZERO) {
            return Ok(false);
        }
        self.flush().await?;
        Ok(true)
    }

    /// Stages every gig marked pending for the consumer, in batches of at most
    /// `max_batch`, and commits the index after each batch; returns how many gigs it
    /// staged. Commits nothing when nothing is marked. On failure the noted changes are
    /// kept, so the flush is due again.
    pub async fn flush(&self) -> Result<u64, SearchError> {
        let _flushing = self.flushing.lock().await;
        let taken = std::mem::take(&mut *self.lock_uncommitted());
        let flushed = self.stage_and_commit_pending().await;
        if flushed.is_err() {
            let mut uncommitted = self.lock_uncommitted();
            uncommitted.changes += taken.changes;
            uncommitted.first_change = match (taken.first_change, uncommitted.first_change) {
                (Some(taken), Some(newer)) => Some(taken.min(newer)),
                (taken, newer) => taken.or(newer),
            };
        }
        flushed
    }

    async fn stage_and_commit_pending(&self) -> Result<u64, SearchError> {
        let mut staged = 0_u64;
        let mut after = String::new();
        loop {
            let batch = store::pending_changes_after(
                self.db.pool(),
                &self.consumer,
                &after,
                self.policy.max_batch,
            )
            .await?;
            let Some(last) = batch.last() else {
                break;
            };
            after = last.gig_id.clone();
            for change in &batch {
                match sync::stage_change(self.index.as_ref(), change).await {
                    Ok(()) => {}
                    // A stored snapshot that cannot become a document stays unreadable:
                    // staging it again cannot help, so it is unmarked with the batch.
                    Err(error @ SearchError::StoredSnapshot { .. }) => {
                        tracing::error!(gig_id = %change.gig_id, error = %error, "cannot index a stored gig snapshot");
                    }
                    Err(error) => return Err(error),
                }
            }
            self.index.commit().await?;
            store::forget_pending(&self.db, &self.consumer, &batch).await?;
            staged += batch.len() as u64;
            if batch.len() < self.policy.max_batch {
                break;
            }
        }
        Ok(staged)
    }

    fn lock_uncommitted(&self) -> std::sync::MutexGuard<'_, Uncommitted> {
        self.uncommitted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Commits the index once noted changes are due, so a change is searchable within the
/// interval after events stop arriving; flushes once more on shutdown.
pub struct IndexFlusher {
    commits: Arc<IndexCommits>,
    name: String,
}

impl IndexFlusher {
    /// The flusher of `commits`.
    pub fn new(commits: Arc<IndexCommits>) -> Self {
        let name = format!("{}.index-commits", commits.consumer());
        Self { commits, name }
    }
}

#[async_trait]
impl BackgroundTask for IndexFlusher {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) {
        let interval = self.commits.policy.interval;
        let mut pause = interval;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
            }
            pause = match self.commits.flush_if_due().await {
                Ok(_) => self.commits.until_due().unwrap_or(interval),
                Err(error) => {
                    tracing::warn!(flusher = %self.name, error = %error, "cannot commit the search index; will retry");
                    interval
                }
            };
        }
        if let Err(error) = self.commits.flush().await {
            tracing::warn!(flusher = %self.name, error = %error, "cannot commit the search index on shutdown");
        }
    }
}
