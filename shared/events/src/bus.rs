//! The event bus port: topics of keyed records, consumer groups, explicit offset commits.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gigmesh_db::DbError;

/// A shared handle on the bus the process was configured with.
pub type SharedBus = Arc<dyn EventBus>;

/// A durable, partitioned log of records, the shape Kafka has: records with the same key
/// keep their order; each consumer group reads every record and commits how far it got.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Creates the topics that do not exist yet. Publishing to a missing topic fails.
    async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError>;

    /// Appends a record; returns once the bus has durably accepted it.
    async fn publish(&self, record: OutgoingRecord) -> Result<(), BusError>;

    /// Appends records in their order, as many at once as the bus can, and returns once
    /// each is durably accepted, or with the first failure and how many records before it
    /// were accepted. Records after the failed one may have been accepted too: a caller
    /// that publishes them again delivers them twice, never loses one. The default
    /// publishes one record at a time.
    async fn publish_all(&self, records: Vec<OutgoingRecord>) -> Result<(), PartialPublish> {
        for (published, record) in records.into_iter().enumerate() {
            self.publish(record)
                .await
                .map_err(|source| PartialPublish { published, source })?;
        }
        Ok(())
    }

    /// Joins consumer group `group` on `topics`. Reading starts after the group's last
    /// committed offset, or at the earliest record when the group never committed.
    async fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn Subscription>, BusError>;

    /// How far consumer group `group` is behind on each of `topics`: the records between
    /// its committed position and the end of the log (all of them when it never committed).
    /// Any process may ask, member of the group or not.
    async fn consumer_lag(&self, group: &str, topics: &[&str]) -> Result<Vec<TopicLag>, BusError>;
}

/// A consumer group's backlog on one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicLag {
    /// The topic.
    pub topic: String,
    /// Records not yet committed by the group, over all partitions.
    pub lag: u64,
}

/// One member's view of a consumer group's position.
#[async_trait]
pub trait Subscription: Send {
    /// The next record, waiting at most `wait`; `None` when nothing arrived in time.
    /// Records of one key arrive in the order they were published.
    async fn next(&mut self, wait: Duration) -> Result<Option<IncomingRecord>, BusError>;

    /// Records that the group is done with `record` (and everything before it in its
    /// partition); a restarted member resumes after it. Returns once the commit is durable.
    async fn commit(&mut self, record: &IncomingRecord) -> Result<(), BusError>;
}

/// Why [`EventBus::publish_all`] stopped: the records before `published` were accepted.
#[derive(Debug, thiserror::Error)]
#[error("publishing failed after {published} records: {source}")]
pub struct PartialPublish {
    /// How many leading records the bus accepted.
    pub published: usize,
    /// The first failure.
    #[source]
    pub source: BusError,
}

/// A record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRecord {
    /// Topic, one per producing domain, e.g. `gigmesh.auth.v1`.
    pub topic: String,
    /// Partitioning key: the aggregate id, so one aggregate's events stay in order.
    pub key: String,
    /// The encoded [`Envelope`](crate::Envelope).
    pub payload: Vec<u8>,
    /// Metadata for infrastructure (trace context, event type); consumers read the envelope.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// A record read from a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingRecord {
    /// Topic it was read from.
    pub topic: String,
    /// Partition within the topic (always 0 on the embedded bus).
    pub partition: i32,
    /// Position within the partition.
    pub offset: i64,
    /// Partitioning key.
    pub key: String,
    /// The encoded envelope.
    pub payload: Vec<u8>,
    /// Record headers.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Why the bus could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The Kafka client reported a failure (broker unreachable, delivery timed out, ...).
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// Creating a Kafka topic failed for a reason other than it already existing.
    #[error("cannot create topic {topic}: {reason}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// What the broker answered.
        reason: String,
    },
    /// The embedded log's database failed.
    #[error("embedded event log: {0}")]
    Log(#[from] DbError),
    /// The topic was never created (see [`EventBus::ensure_topics`]).
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    /// A topic the process needs does not exist, and the bus is configured not to create
    /// topics (`bus.kafka.create_topics = false`).
    #[error(
        "topic {0} does not exist; create it, or set bus.kafka.create_topics = true to let \
         gigmesh create its topics"
    )]
    MissingTopic(String),
    /// The bus was closed.
    #[error("the event bus is closed")]
    Closed,
    /// The bus did not answer in time.
    #[error("the event bus did not answer within {0:?}")]
    Timeout(Duration),
}
