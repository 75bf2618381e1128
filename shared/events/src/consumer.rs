//! Idempotent consumers: apply each event once, retry failures, dead-letter poison events
//! (without their payload when the record is marked as carrying a secret).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gigmesh_db::{Db, DbError, Tx};
use gigmesh_proto::gigmesh::events::v1::Envelope;
use gigmesh_types::now_millis;
use prost::Message as _;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::bus::{BusError, IncomingRecord, SharedBus, Subscription};
use crate::metrics;
use crate::relay::{backoff, is_marked_secret};
use crate::task::BackgroundTask;

/// Attempts before an event is dead-lettered, unless set with
/// [`Consumer::with_max_attempts`]. With the retry pauses of [`Consumer::run`] (100 ms,
/// doubling, at most 10 s) this gives a failing dependency about a minute to recover.
const DEFAULT_MAX_ATTEMPTS: u32 = 10;
/// First pause before retrying a failed event in [`Consumer::run`].
const RETRY_BASE: Duration = Duration::from_millis(100);
/// How long one [`Consumer::run`] step waits for a record before checking again.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// Applies events to a service's state.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Applies `envelope` within `tx`, which also records the event in the inbox: the
    /// effect and the inbox row commit together or not at all. Ignore event types the
    /// handler does not know (return `Ok`); see [`decode`](crate::decode).
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError>;

    /// Whether the handler takes events of `event_type` at all. The others are skipped
    /// without a transaction or an inbox row (their offset is committed): a consumer that
    /// wants one event type of a busy topic pays nothing for the rest. Takes every type
    /// unless overridden.
    fn takes(&self, event_type: &str) -> bool {
        let _ = event_type;
        true
    }

    /// Runs after the transaction of [`EventHandler::handle`] committed, for effects outside
    /// the database that must only follow committed state (a search index, a cache). It is
    /// not called for duplicates or failures, and it cannot fail the event: derived state
    /// must be rebuildable from the database. Does nothing unless overridden.
    async fn after_commit(&self, envelope: &Envelope) {
        let _ = envelope;
    }
}

/// Why a handler could not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// May succeed later (a database hiccup, a missing prerequisite that another event will
    /// bring): the event is retried, then dead-lettered after the maximum attempts.
    #[error("{0:#}")]
    Transient(anyhow::Error),
    /// Will never succeed (an undecodable payload, an impossible state): dead-lettered at
    /// once.
    #[error("{0:#}")]
    Permanent(anyhow::Error),
}

impl HandlerError {
    /// A failure worth retrying.
    pub fn transient(error: impl Into<anyhow::Error>) -> Self {
        Self::Transient(error.into())
    }

    /// A failure retrying cannot fix.
    pub fn permanent(error: impl Into<anyhow::Error>) -> Self {
        Self::Permanent(error.into())
    }
}

impl From<DbError> for HandlerError {
    fn from(error: DbError) -> Self {
        Self::Transient(error.into())
    }
}

impl From<sqlx::Error> for HandlerError {
    fn from(error: sqlx::Error) -> Self {
        Self::Transient(DbError::from(error).into())
    }
}

impl From<prost::DecodeError> for HandlerError {
    fn from(error: prost::DecodeError) -> Self {
        Self::Permanent(error.into())
    }
}

impl From<anyhow::Error> for HandlerError {
    fn from(error: anyhow::Error) -> Self {
        Self::Transient(error)
    }
}

/// What one [`Consumer::poll_once`] step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    /// No record arrived in time.
    Idle,
    /// The handler applied the event; its effect and inbox row are committed.
    Handled {
        /// The event's id.
        event_id: String,
    },
    /// The event was applied before (redelivery); skipped.
    Duplicate {
        /// The event's id.
        event_id: String,
    },
    /// The handler takes no events of this type ([`EventHandler::takes`]); skipped without
    /// a write.
    Ignored {
        /// The event's id.
        event_id: String,
    },
    /// The handler failed; the same event is retried by the next step.
    Failed {
        /// The event's id.
        event_id: String,
        /// Attempts so far.
        attempt: u32,
        /// The handler's error.
        error: String,
    },
    /// The event was stored in `dead_letters` and skipped.
    DeadLettered {
        /// The event's id (empty when the record was not a valid envelope).
        event_id: String,
    },
}

/// Why a consumer step failed outside the handler; the record is retried by the next step
/// without counting an attempt.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// Reading from the bus or committing the offset failed.
    #[error("event bus: {0}")]
    Bus(#[from] BusError),
    /// The service database failed (begin, inbox, commit).
    #[error("consumer database: {0}")]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for ConsumerError {
    fn from(error: sqlx::Error) -> Self {
        Self::Db(error.into())
    }
}

/// A record being worked on, kept across steps until it is done.
struct Pending {
    record: IncomingRecord,
    /// Handler failures so far.
    attempts: u32,
}

/// A consumer group member that applies events with an [`EventHandler`], exactly once in
/// effect: each event's inbox row `(consumer, event_id)` commits with the effect, so a
/// redelivered event is skipped, and the bus offset is committed only after that.
/// A failing event is retried; after the maximum attempts (or at once for a permanent
/// error) it goes to `dead_letters` and the consumer moves on.
pub struct Consumer {
    name: String,
    db: Db,
    subscription: Box<dyn Subscription>,
    handler: Arc<dyn EventHandler>,
    max_attempts: u32,
    pending: Option<Pending>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Consumer")
            .field("name", &self.name)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// Subscribes consumer group `name` (also the inbox's consumer name, so keep it stable,
    /// e.g. `notifications.auth-events`) to `topics`, creating missing topics.
    pub async fn new(
        name: &str,
        db: Db,
        bus: SharedBus,
        topics: &[&str],
        handler: Arc<dyn EventHandler>,
    ) -> Result<Consumer, BusError> {
        metrics::describe();
        // The series exists from the start at zero, so `increase()` sees the first dead
        // letter.
        ::metrics::counter!(metrics::DEAD_LETTERS, "consumer" => name.to_owned()).increment(0);
        // The producing service's relay creates its topics too; creating them here as well
        // means a consumer that starts first does not wait on a missing topic. A broker
        // that is down now is not fatal: the subscription retries.
        if let Err(error) = bus.ensure_topics(topics).await {
            tracing::warn!(consumer = name, error = %error, "cannot create consumed topics yet");
        }
        let subscription = bus.subscribe(name, topics).await?;
        Ok(Consumer {
            name: name.to_owned(),
            db,
            subscription,
            handler,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            pending: None,
        })
    }

    /// Handler attempts before an event is dead-lettered (at least 1).
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// The consumer (and consumer group) name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Steps until a wait of `wait` finds nothing; returns what each step did.
    pub async fn drain(&mut self, wait: Duration) -> Result<Vec<PollOutcome>, ConsumerError> {
        let mut outcomes = Vec::new();
        loop {
            match self.poll_once(wait).await? {
                PollOutcome::Idle => return Ok(outcomes),
                outcome => outcomes.push(outcome),
            }
        }
    }

    /// One step: takes the record being retried, or waits at most `wait` for the next one,
    /// and processes it.
    pub async fn poll_once(&mut self, wait: Duration) -> Result<PollOutcome, ConsumerError> {
        match self.receive(wait).await? {
            None => Ok(PollOutcome::Idle),
            Some(pending) => self.process(pending).await,
        }
    }

    /// The record to work on: the one being retried, else the next from the bus.
    async fn receive(&mut self, wait: Duration) -> Result<Option<Pending>, ConsumerError> {
        if let Some(pending) = self.pending.take() {
            return Ok(Some(pending));
        }
        let record = self.subscription.next(wait).await?;
        Ok(record.map(|record| Pending {
            record,
            attempts: 0,
        }))
    }

    /// Processes a record; whenever it is not finished (handler failure, database or bus
    /// error) it is kept for the next step.
    async fn process(&mut self, mut pending: Pending) -> Result<PollOutcome, ConsumerError> {
        let result = self.apply(&mut pending).await;
        let finished = matches!(
            result,
            Ok(PollOutcome::Handled { .. }
                | PollOutcome::Duplicate { .. }
                | PollOutcome::Ignored { .. }
                | PollOutcome::DeadLettered { .. })
        );
        if !finished {
            self.pending = Some(pending);
        }
        result
    }

    async fn apply(&mut self, pending: &mut Pending) -> Result<PollOutcome, ConsumerError> {
        let envelope = match Envelope::decode(pending.record.payload.as_slice()) {
            Ok(envelope) if !envelope.event_id.is_empty() => envelope,
            Ok(_) => {
                let error = "the record is not an event envelope: it has no event id";
                return self.dead_letter(pending, None, error).await;
            }
            Err(error) => {
                let error = format!("the record is not an event envelope: {error}");
                return self.dead_letter(pending, None, &error).await;
            }
        };
        let event_id = envelope.event_id.clone();
        if !self.handler.takes(&envelope.event_type) {
            self.subscription.commit(&pending.record).await?;
            self.count_consumed("ignored");
            return Ok(PollOutcome::Ignored { event_id });
        }
        let span = tracing::info_span!(
            "consume event",
            consumer = %self.name,
            event_type = %envelope.event_type,
            event_id = %event_id,
        );
        gigmesh_telemetry::propagation::set_parent_from_map(&span, &envelope.trace_context);

        let mut tx = self.db.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO inbox (consumer, event_id, process_time) VALUES ($1, $2, $3) \
             ON CONFLICT (consumer, event_id) DO NOTHING",
        )
        .bind(&self.name)
        .bind(&event_id)
        .bind(now_millis())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            self.subscription.commit(&pending.record).await?;
            self.count_consumed("duplicate");
            tracing::debug!(parent: &span, "duplicate event skipped");
            return Ok(PollOutcome::Duplicate { event_id });
        }

        let handled = self
            .handler
            .handle(&mut tx, &envelope)
            .instrument(span.clone())
            .await;
        match handled {
            Ok(()) => {
                tx.commit().await?;
                self.handler
                    .after_commit(&envelope)
                    .instrument(span.clone())
                    .await;
                self.subscription.commit(&pending.record).await?;
                self.count_consumed("handled");
                Ok(PollOutcome::Handled { event_id })
            }
            Err(error) => {
                tx.rollback().await?;
                pending.attempts += 1;
                let permanent = matches!(error, HandlerError::Permanent(_));
                if permanent || pending.attempts >= self.max_attempts {
                    let reason = error.to_string();
                    return self.dead_letter(pending, Some(&envelope), &reason).await;
                }
                tracing::warn!(
                    parent: &span,
                    attempt = pending.attempts,
                    max_attempts = self.max_attempts,
                    error = %error,
                    "event handler failed; will retry"
                );
                Ok(PollOutcome::Failed {
                    event_id,
                    attempt: pending.attempts,
                    error: error.to_string(),
                })
            }
        }
    }

    /// Stores the record in `dead_letters` (and the inbox, so a redelivery is skipped) and
    /// commits its offset, so the events behind it proceed. The payload of a record marked
    /// as carrying a secret ([`CARRIES_SECRET_HEADER`](crate::CARRIES_SECRET_HEADER)) is
    /// not stored: dead letters are kept until someone deletes them, and the producer has
    /// already deleted its own copy.
    async fn dead_letter(
        &mut self,
        pending: &Pending,
        envelope: Option<&Envelope>,
        error: &str,
    ) -> Result<PollOutcome, ConsumerError> {
        let event_id = envelope
            .map(|envelope| envelope.event_id.clone())
            .unwrap_or_default();
        let event_type = envelope
            .map(|envelope| envelope.event_type.clone())
            .unwrap_or_default();
        let record = &pending.record;
        let carries_secret = is_marked_secret(&record.headers);
        let stored_payload: &[u8] = if carries_secret { &[] } else { &record.payload };
        let mut tx = self.db.begin().await?;
        if !event_id.is_empty() {
            sqlx::query(
                "INSERT INTO inbox (consumer, event_id, process_time) VALUES ($1, $2, $3) \
                 ON CONFLICT (consumer, event_id) DO NOTHING",
            )
            .bind(&self.name)
            .bind(&event_id)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO dead_letters (consumer, event_id, event_type, topic, record_key, \
                 record_partition, record_offset, payload, error, attempts, create_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&self.name)
        .bind(&event_id)
        .bind(&event_type)
        .bind(&record.topic)
        .bind(&record.key)
        .bind(i64::from(record.partition))
        .bind(record.offset)
        .bind(stored_payload)
        .bind(error)
        .bind(i64::from(pending.attempts))
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.subscription.commit(record).await?;

        ::metrics::counter!(metrics::DEAD_LETTERS, "consumer" => self.name.clone()).increment(1);
        self.count_consumed("dead_lettered");
        tracing::error!(
            consumer = %self.name,
            event_id = %event_id,
            event_type = %event_type,
            topic = %record.topic,
            offset = record.offset,
            attempts = pending.attempts,
            payload_kept = !carries_secret,
            error,
            "event dead-lettered"
        );
        Ok(PollOutcome::DeadLettered { event_id })
    }

    fn count_consumed(&self, outcome: &'static str) {
        ::metrics::counter!(
            metrics::EVENTS_CONSUMED,
            "consumer" => self.name.clone(),
            "outcome" => outcome
        )
        .increment(1);
    }

    /// Runs until `shutdown`. Waiting for a record stops at once on shutdown; a record
    /// being processed is finished first (its transaction and offset commit complete).
    /// Failed events are retried after a pause that doubles from 100 ms up to 10 s.
    pub async fn run(mut self, shutdown: CancellationToken) {
        tracing::info!(consumer = %self.name, "event consumer started");
        let mut infrastructure_failures: u32 = 0;
        loop {
            let received = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                received = self.receive(IDLE_WAIT) => received,
            };
            let outcome = match received {
                Ok(None) => continue,
                Ok(Some(pending)) => self.process(pending).await,
                Err(error) => Err(error),
            };
            let pause = match outcome {
                Ok(PollOutcome::Failed { attempt, .. }) => backoff(RETRY_BASE, attempt),
                Ok(_) => {
                    infrastructure_failures = 0;
                    Duration::ZERO
                }
                Err(error) => {
                    infrastructure_failures = infrastructure_failures.saturating_add(1);
                    tracing::warn!(consumer = %self.name, error = %error, "event consumer step failed");
                    backoff(RETRY_BASE, infrastructure_failures)
                }
            };
            if !pause.is_zero() {
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
        tracing::info!(consumer = %self.name, "event consumer stopped");
    }
}

#[async_trait]
impl BackgroundTask for Consumer {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) {
        Consumer::run(*self, shutdown).await;
    }
}
