//! The outbox relay: publishes committed outbox rows to the bus, in order, and marks them
//! sent; rows of events that carry a secret are deleted instead.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use gigmesh_db::{Backend, Db, DbError};
use gigmesh_proto::gigmesh::events::v1::Envelope;
use gigmesh_types::now_millis;
use prost::Message as _;
use sqlx::Row as _;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::bus::{BusError, OutgoingRecord, SharedBus};
use crate::metrics;
use crate::task::BackgroundTask;

/// Rows published per [`Relay::run_once`].
const DEFAULT_BATCH_SIZE: u32 = 100;
/// Longest pause between runs when the outbox is drained. A commit that enqueued events
/// wakes the relay at once (the database's commit signal), so the poll only finds rows
/// written by another process: another replica's that its own relay did not publish, or
/// a writer outside the service.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How long sent rows are kept (for inspection) before [`Relay::run`] deletes them.
const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// How often [`Relay::run`] deletes sent rows past retention.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// How often [`Relay::run`] counts the unsent rows for the backlog gauge.
const BACKLOG_MEASURE_INTERVAL: Duration = Duration::from_secs(1);
/// Longest pause after failed runs (the pause doubles from the poll interval).
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Why a relay run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Reading or marking outbox rows failed.
    #[error("outbox database: {0}")]
    Db(#[from] DbError),
    /// The bus refused a record; `published` rows before it were sent and marked, the rest
    /// stay for the next run.
    #[error("publishing to the event bus failed after {published} records: {source}")]
    Publish {
        /// Rows sent in this run before the failure.
        published: usize,
        /// The bus failure.
        #[source]
        source: BusError,
    },
}

/// Publishes a service's outbox. On PostgreSQL, replicas of a service can each run one:
/// rows are claimed with `FOR UPDATE SKIP LOCKED`, and a row is only published once every
/// earlier unsent row of its key is published, so per-key order holds across replicas.
/// On SQLite, run one relay per database.
pub struct Relay {
    db: Db,
    bus: SharedBus,
    name: String,
    batch_size: u32,
    poll_interval: Duration,
    retention: Duration,
    /// Topics this relay already made sure exist.
    ensured_topics: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Relay")
            .field("name", &self.name)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

/// The record header that marks an event carrying a secret (value `true`), set from the
/// outbox row: a consumer that dead-letters such an event keeps no copy of its payload.
pub const CARRIES_SECRET_HEADER: &str = "carries_secret";

/// One claimed outbox row.
struct OutboxRow {
    id: i64,
    topic: String,
    record_key: String,
    envelope: Vec<u8>,
    /// The event carries a secret: the row is deleted once published.
    carries_secret: bool,
    /// Unsent rows of the same topic and key with a smaller id, when the row was claimed.
    unsent_before: i64,
}

impl Relay {
    /// A relay publishing `db`'s outbox to `bus`.
    pub fn new(db: Db, bus: SharedBus) -> Self {
        metrics::describe();
        Self {
            db,
            bus,
            name: "outbox".to_owned(),
            batch_size: DEFAULT_BATCH_SIZE,
            poll_interval: DEFAULT_POLL_INTERVAL,
            retention: DEFAULT_RETENTION,
            ensured_topics: Mutex::new(HashSet::new()),
        }
    }

    /// Names the relay in logs and metrics (the `relay` label), e.g. the service name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Rows published per run.
    pub fn with_batch_size(mut self, batch_size: u32) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Pause between runs when the outbox is drained.
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// How long sent rows are kept before being deleted.
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Publishes up to one batch of unsent rows in id order and marks them sent; returns
    /// how many were published. A publish failure ends the run (rows after it stay unsent,
    /// so a key's events never overtake each other); what was published before it is
    /// still marked sent.
    pub async fn run_once(&self) -> Result<usize, RelayError> {
        let published = self.publish_batch().await;
        // Measured after failures too: a backlog that grows while the broker is down is
        // exactly what the gauge is for.
        self.measure_backlog().await;
        published
    }

    async fn publish_batch(&self) -> Result<usize, RelayError> {
        match self.db.backend() {
            Backend::Postgres => self.run_once_postgres().await,
            Backend::Sqlite => self.run_once_sqlite().await,
        }
    }

    /// Sets the backlog gauge from a count of the unsent rows.
    async fn measure_backlog(&self) {
        if let Ok(backlog) = self.backlog().await {
            ::metrics::gauge!(metrics::OUTBOX_BACKLOG, "relay" => self.name.clone())
                .set(backlog as f64);
        }
    }

    /// Claims rows with row locks held by the transaction until they are marked sent, so
    /// other replicas skip them.
    async fn run_once_postgres(&self) -> Result<usize, RelayError> {
        let mut tx = self.db.begin().await?;
        let rows = fetch_unsent(
            &mut *tx,
            self.batch_size,
            "FOR UPDATE OF outbox_row SKIP LOCKED",
        )
        .await?;
        let (sent_rows, failure) = self.publish_in_order(rows).await;
        mark_sent(&mut tx, &sent_rows).await?;
        tx.commit().await.map_err(DbError::from)?;
        finish(sent_rows.len(), failure)
    }

    /// SQLite has no row locks: read without holding the write lock (publishing may take
    /// long and would stall every writer of the service), then mark in a short transaction.
    async fn run_once_sqlite(&self) -> Result<usize, RelayError> {
        let rows = fetch_unsent(self.db.pool(), self.batch_size, "").await?;
        let (sent_rows, failure) = self.publish_in_order(rows).await;
        if !sent_rows.is_empty() {
            let mut tx = self.db.begin().await?;
            mark_sent(&mut tx, &sent_rows).await?;
            tx.commit().await.map_err(DbError::from)?;
        }
        finish(sent_rows.len(), failure)
    }

    /// Publishes rows in id order, handing the bus all of them at once; returns the rows
    /// published and the failure that stopped the run, if any.
    async fn publish_in_order(&self, rows: Vec<OutboxRow>) -> (Vec<SentRow>, Option<BusError>) {
        // Rows of each (topic, key) taken in this run.
        let mut taken_per_key: HashMap<(&str, &str), i64> = HashMap::new();
        let mut taken = Vec::with_capacity(rows.len());
        for row in &rows {
            let key = (row.topic.as_str(), row.record_key.as_str());
            let taken_for_key = taken_per_key.get(&key).copied().unwrap_or(0);
            // An earlier row of this key is unsent and not ours (another replica holds it):
            // publishing now would reorder the key's events.
            if row.unsent_before != taken_for_key {
                continue;
            }
            taken_per_key.insert(key, taken_for_key + 1);
            taken.push(row);
        }
        for row in &taken {
            if let Err(error) = self.ensure_topic(&row.topic).await {
                return (Vec::new(), Some(error));
            }
        }
        let records = taken
            .iter()
            .map(|row| OutgoingRecord {
                topic: row.topic.clone(),
                key: row.record_key.clone(),
                payload: row.envelope.clone(),
                headers: record_headers(&row.envelope, row.carries_secret),
            })
            .collect();
        // Only a prefix counts as sent, so a failed row's later rows (of any key) stay for
        // the next run, which publishes them again after it: at least once, in key order.
        let (published, failure) = match self.bus.publish_all(records).await {
            Ok(()) => (taken.len(), None),
            Err(partial) => {
                let failed = taken.get(partial.published);
                tracing::warn!(
                    relay = %self.name,
                    topic = failed.map(|row| row.topic.as_str()),
                    outbox_id = failed.map(|row| row.id),
                    published = partial.published,
                    error = %partial.source,
                    "publishing outbox row failed; it and the rows after it stay for the next run"
                );
                (partial.published, Some(partial.source))
            }
        };
        let sent_rows = taken[..published.min(taken.len())]
            .iter()
            .map(|row| {
                ::metrics::counter!(metrics::EVENTS_PUBLISHED, "topic" => row.topic.clone())
                    .increment(1);
                SentRow {
                    id: row.id,
                    carries_secret: row.carries_secret,
                }
            })
            .collect();
        (sent_rows, failure)
    }

    async fn ensure_topic(&self, topic: &str) -> Result<(), BusError> {
        let mut ensured = self.ensured_topics.lock().await;
        if ensured.contains(topic) {
            return Ok(());
        }
        self.bus.ensure_topics(&[topic]).await?;
        ensured.insert(topic.to_owned());
        Ok(())
    }

    /// Unsent outbox rows.
    pub async fn backlog(&self) -> Result<i64, DbError> {
        let row = sqlx::query("SELECT COUNT(*) FROM outbox WHERE send_time IS NULL")
            .fetch_one(self.db.pool())
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Deletes rows sent more than `older_than` ago; returns how many.
    pub async fn prune_sent(&self, older_than: Duration) -> Result<u64, DbError> {
        let cutoff = now_millis() - i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
        let result =
            sqlx::query("DELETE FROM outbox WHERE send_time IS NOT NULL AND send_time < $1")
                .bind(cutoff)
                .execute(self.db.pool())
                .await?;
        Ok(result.rows_affected())
    }

    /// Runs until `shutdown`: publishes whenever rows are waiting, pauses when the outbox is
    /// drained until a transaction of its database commits events (or the poll interval
    /// passes), backs off while the bus or database fails, and deletes old sent rows.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(relay = %self.name, "outbox relay started");
        let mut commits = self.db.watch_commits();
        let mut failures: u32 = 0;
        let mut last_prune = tokio::time::Instant::now();
        let mut last_measure: Option<tokio::time::Instant> = None;
        loop {
            let outcome = self.publish_batch().await;
            // Woken by every commit under load, the relay runs far more often than the
            // gauge is scraped: counting the backlog each time would double its queries.
            if last_measure.is_none_or(|at| at.elapsed() >= BACKLOG_MEASURE_INTERVAL) {
                last_measure = Some(tokio::time::Instant::now());
                self.measure_backlog().await;
            }
            let pause = match outcome {
                Ok(published) => {
                    failures = 0;
                    if published as u32 >= self.batch_size {
                        Duration::ZERO
                    } else {
                        self.poll_interval
                    }
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(relay = %self.name, error = %error, "outbox relay run failed");
                    backoff(self.poll_interval, failures)
                }
            };
            if last_prune.elapsed() >= PRUNE_INTERVAL {
                last_prune = tokio::time::Instant::now();
                match self.prune_sent(self.retention).await {
                    Ok(deleted) if deleted > 0 => {
                        tracing::debug!(relay = %self.name, deleted, "pruned sent outbox rows");
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(relay = %self.name, error = %error, "pruning the outbox failed");
                    }
                }
            }
            if pause.is_zero() {
                if shutdown.is_cancelled() {
                    break;
                }
                continue;
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                // After a failure the backoff holds: a commit must not turn it into a retry
                // loop against a broker that is down.
                () = commits.committed(), if failures == 0 => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        tracing::info!(relay = %self.name, "outbox relay stopped");
    }
}

#[async_trait]
impl BackgroundTask for Relay {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) {
        Relay::run(*self, shutdown).await;
    }
}

/// Reads up to `limit` unsent rows in id order, each with the number of unsent rows of its
/// key before it. `locking` is appended to the query (PostgreSQL row locks).
async fn fetch_unsent<'e, E>(
    executor: E,
    limit: u32,
    locking: &str,
) -> Result<Vec<OutboxRow>, DbError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let sql = format!(
        "SELECT outbox_row.id, outbox_row.topic, outbox_row.record_key, outbox_row.envelope, \
             outbox_row.carries_secret, \
             (SELECT COUNT(*) FROM outbox earlier \
              WHERE earlier.send_time IS NULL \
                AND earlier.topic = outbox_row.topic \
                AND earlier.record_key = outbox_row.record_key \
                AND earlier.id < outbox_row.id) AS unsent_before \
         FROM outbox outbox_row \
         WHERE outbox_row.send_time IS NULL \
         ORDER BY outbox_row.id \
         LIMIT $1 {locking}"
    );
    let rows = sqlx::query(&sql)
        .bind(i64::from(limit))
        .fetch_all(executor)
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(OutboxRow {
                id: row.try_get("id")?,
                topic: row.try_get("topic")?,
                record_key: row.try_get("record_key")?,
                envelope: row.try_get("envelope")?,
                carries_secret: gigmesh_db::get_bool(&row, "carries_secret")?,
                unsent_before: row.try_get("unsent_before")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(DbError::from)
}

/// A published outbox row, to mark sent.
struct SentRow {
    id: i64,
    carries_secret: bool,
}

/// Marks published rows sent, and deletes those of events that carry a secret: a sent row is
/// kept for inspection for the retention, which a secret must not be (the bus has it now).
async fn mark_sent(tx: &mut gigmesh_db::Tx, rows: &[SentRow]) -> Result<(), DbError> {
    let now = now_millis();
    for row in rows {
        if row.carries_secret {
            sqlx::query("DELETE FROM outbox WHERE id = $1")
                .bind(row.id)
                .execute(&mut **tx)
                .await?;
        } else {
            sqlx::query("UPDATE outbox SET send_time = $1 WHERE id = $2")
                .bind(now)
                .bind(row.id)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

fn finish(published: usize, failure: Option<BusError>) -> Result<usize, RelayError> {
    match failure {
        None => Ok(published),
        Some(source) => Err(RelayError::Publish { published, source }),
    }
}

/// Headers for infrastructure that does not decode envelopes: the event type and id, the
/// W3C trace context (`traceparent`, `tracestate`), and [`CARRIES_SECRET_HEADER`] when the
/// event carries a secret.
fn record_headers(encoded_envelope: &[u8], carries_secret: bool) -> Vec<(String, Vec<u8>)> {
    let secret_header = carries_secret.then(carries_secret_header);
    let Ok(envelope) = Envelope::decode(encoded_envelope) else {
        return secret_header.into_iter().collect();
    };
    let mut headers = vec![
        ("event_type".to_owned(), envelope.event_type.into_bytes()),
        ("event_id".to_owned(), envelope.event_id.into_bytes()),
    ];
    headers.extend(secret_header);
    let mut trace_context: Vec<_> = envelope.trace_context.into_iter().collect();
    trace_context.sort();
    headers.extend(
        trace_context
            .into_iter()
            .map(|(key, value)| (key, value.into_bytes())),
    );
    headers
}

/// The [`CARRIES_SECRET_HEADER`] header, as the relay sets it on a record.
pub fn carries_secret_header() -> (String, Vec<u8>) {
    (CARRIES_SECRET_HEADER.to_owned(), b"true".to_vec())
}

/// Whether a record's headers mark its event as carrying a secret.
pub(crate) fn is_marked_secret(headers: &[(String, Vec<u8>)]) -> bool {
    headers
        .iter()
        .any(|(name, value)| name == CARRIES_SECRET_HEADER && value.as_slice() != b"false")
}

/// `base * 2^(failures-1)`, at most [`MAX_BACKOFF`].
pub(crate) fn backoff(base: Duration, failures: u32) -> Duration {
    let factor = 1_u32 << failures.saturating_sub(1).min(16);
    base.max(Duration::from_millis(10))
        .saturating_mul(factor)
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = Duration::from_millis(100);
        assert_eq!(backoff(base, 1), Duration::from_millis(100));
        assert_eq!(backoff(base, 2), Duration::from_millis(200));
        assert_eq!(backoff(base, 4), Duration::from_millis(800));
        assert_eq!(backoff(base, 40), MAX_BACKOFF);
    }

    #[test]
    fn headers_carry_type_id_and_trace_context() {
        let envelope = Envelope {
            event_id: "e1".to_owned(),
            event_type: "gigmesh.auth.v1.UserRegistered".to_owned(),
            trace_context: [("traceparent".to_owned(), "00-a-b-01".to_owned())].into(),
            ..Envelope::default()
        };
        let headers = record_headers(&envelope.encode_to_vec(), false);
        assert_eq!(
            headers,
            vec![
                (
                    "event_type".to_owned(),
                    b"gigmesh.auth.v1.UserRegistered".to_vec()
                ),
                ("event_id".to_owned(), b"e1".to_vec()),
                ("traceparent".to_owned(), b"00-a-b-01".to_vec()),
            ]
        );
    }

    #[test]
    fn a_secret_carrying_event_is_marked_even_when_its_envelope_does_not_decode() {
        let envelope = Envelope {
            event_id: "e1".to_owned(),
            event_type: "gigmesh.auth.v1.PasswordResetRequested".to_owned(),
            ..Envelope::default()
        };
        let headers = record_headers(&envelope.encode_to_vec(), true);
        assert!(is_marked_secret(&headers), "{headers:?}");
        assert!(!is_marked_secret(&record_headers(
            &envelope.encode_to_vec(),
            false
        )));
        let undecodable = record_headers(b"\xff\xff", true);
        assert_eq!(undecodable, vec![carries_secret_header()]);
    }
}
