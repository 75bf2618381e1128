//! The Kafka event bus (distributed mode), on librdkafka through rdkafka.
//!
//! Producing waits for every in-sync replica (`acks=all`) and keeps one request in flight
//! per connection, so librdkafka's retries cannot reorder a key's records; gigmesh needs
//! neither idempotent producers nor transactions, because consumers deduplicate by event id.
//! Consuming commits offsets explicitly and synchronously after the effect is committed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::message::{Header, Headers as _, Message as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::bus::{BusError, EventBus, IncomingRecord, OutgoingRecord, Subscription};

/// Settings of the Kafka adapter.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// Partitions of topics created by [`EventBus::ensure_topics`].
    pub partitions: i32,
    /// Replication factor of created topics.
    pub replication_factor: i32,
    /// How long a publish may wait for the broker before it fails (librdkafka
    /// `message.timeout.ms`); also bounds admin requests.
    pub delivery_timeout: Duration,
    /// How long the group waits for a silent member before moving its partitions
    /// (`session.timeout.ms`).
    pub session_timeout: Duration,
    /// Client id reported to the broker, for its logs and quotas.
    pub client_id: String,
}

impl KafkaOptions {
    /// Production defaults for `brokers`.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            partitions: 3,
            replication_factor: 1,
            delivery_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(10),
            client_id: "gigmesh".to_owned(),
        }
    }
}

/// The Kafka adapter: one producer and one admin client per process, one consumer per
/// subscription.
pub struct KafkaBus {
    options: KafkaOptions,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
}

impl std::fmt::Debug for KafkaBus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KafkaBus")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl KafkaBus {
    /// Connects to `brokers` with the default [`KafkaOptions`]. Does not wait for the
    /// broker: a broker that is down now is retried on each publish.
    pub async fn new(brokers: &str) -> Result<KafkaBus, BusError> {
        Self::with_options(KafkaOptions::new(brokers)).await
    }

    /// Connects with explicit options.
    pub async fn with_options(options: KafkaOptions) -> Result<KafkaBus, BusError> {
        let delivery_timeout_ms = options.delivery_timeout.as_millis().to_string();
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &options.brokers)
            .set("client.id", &options.client_id)
            .set("acks", "all")
            .set("enable.idempotence", "false")
            .set("max.in.flight.requests.per.connection", "1")
            .set("message.timeout.ms", &delivery_timeout_ms)
            // The relay publishes one record at a time and waits for it; batching delay
            // would only add latency.
            .set("linger.ms", "0")
            // Same key -> same partition as the Java client computes it.
            .set("partitioner", "murmur2_random")
            .create()?;
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &options.brokers)
            .set("client.id", &options.client_id)
            .create()?;
        Ok(KafkaBus {
            options,
            producer,
            admin,
        })
    }
}

#[async_trait]
impl EventBus for KafkaBus {
    async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError> {
        if topics.is_empty() {
            return Ok(());
        }
        let new_topics: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|topic| {
                NewTopic::new(
                    topic,
                    self.options.partitions,
                    TopicReplication::Fixed(self.options.replication_factor),
                )
            })
            .collect();
        let admin_options = AdminOptions::new()
            .request_timeout(Some(self.options.delivery_timeout))
            .operation_timeout(Some(self.options.delivery_timeout));
        let results = self
            .admin
            .create_topics(&new_topics, &admin_options)
            .await?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(BusError::CreateTopic {
                        topic,
                        reason: code.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    async fn publish(&self, record: OutgoingRecord) -> Result<(), BusError> {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (key, value) in &record.headers {
            headers = headers.insert(Header {
                key,
                value: Some(value.as_slice()),
            });
        }
        let kafka_record = FutureRecord::to(&record.topic)
            .key(&record.key)
            .payload(&record.payload)
            .headers(headers);
        self.producer
            .send(kafka_record, Timeout::After(self.options.delivery_timeout))
            .await
            .map_err(|(error, _unsent)| BusError::Kafka(error))?;
        Ok(())
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn Subscription>, BusError> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.options.brokers)
            .set("client.id", &self.options.client_id)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set(
                "session.timeout.ms",
                self.options.session_timeout.as_millis().to_string(),
            )
            // Topics are created explicitly; notice a just-created one quickly.
            .set("allow.auto.create.topics", "false")
            .set("topic.metadata.refresh.interval.ms", "10000")
            .create()?;
        consumer.subscribe(topics)?;
        Ok(Box::new(KafkaSubscription {
            consumer: Some(Arc::new(consumer)),
            commit_timeout: self.options.delivery_timeout,
        }))
    }
}

/// A consumer group member.
struct KafkaSubscription {
    /// Always `Some` until dropped.
    consumer: Option<Arc<StreamConsumer>>,
    /// Longest wait for an offset commit.
    commit_timeout: Duration,
}

impl KafkaSubscription {
    fn consumer(&self) -> Result<&Arc<StreamConsumer>, BusError> {
        self.consumer.as_ref().ok_or(BusError::Closed)
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn next(&mut self, wait: Duration) -> Result<Option<IncomingRecord>, BusError> {
        let consumer = self.consumer()?;
        let message = match tokio::time::timeout(wait, consumer.recv()).await {
            Err(_elapsed) => return Ok(None),
            Ok(received) => received?,
        };
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|header| {
                        (
                            header.key.to_owned(),
                            header.value.map(<[u8]>::to_vec).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(IncomingRecord {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message
                .key()
                .map(|key| String::from_utf8_lossy(key).into_owned())
                .unwrap_or_default(),
            payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            headers,
        }))
    }

    async fn commit(&mut self, record: &IncomingRecord) -> Result<(), BusError> {
        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset(
            &record.topic,
            record.partition,
            Offset::Offset(record.offset + 1),
        )?;
        // A synchronous commit blocks on the broker's answer: keep it off the async threads,
        // and give up waiting after the delivery timeout (the record is then processed again,
        // and skipped as a duplicate).
        let consumer = Arc::clone(self.consumer()?);
        let commit =
            tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync));
        match tokio::time::timeout(self.commit_timeout, commit).await {
            Err(_elapsed) => Err(BusError::Timeout(self.commit_timeout)),
            Ok(Err(_join_error)) => Err(BusError::Closed),
            Ok(Ok(committed)) => Ok(committed?),
        }
    }
}

impl Drop for KafkaSubscription {
    fn drop(&mut self) {
        // Leaving the group (so its partitions move to other members at once) waits for the
        // broker, possibly for long when it is down: do it on a detached thread, which
        // neither blocks an async worker nor keeps the process from exiting.
        let Some(consumer) = self.consumer.take() else {
            return;
        };
        let closing = std::thread::Builder::new()
            .name("kafka-consumer-close".to_owned())
            .spawn(move || drop(consumer));
        if let Err(error) = closing {
            tracing::warn!(%error, "cannot close the Kafka consumer in the background");
        }
    }
}
