//! The Kafka event bus (distributed mode), on librdkafka through rdkafka.
//!
//! Producing waits for every in-sync replica (`acks=all`) and keeps one request in flight
//! per connection, so librdkafka's retries cannot reorder a key's records; gigmesh needs
//! neither idempotent producers nor transactions, because consumers deduplicate by event id.
//! Consuming commits offsets explicitly and synchronously after the effect is committed.
//!
//! A consumer with an instance id is a static group member (KIP-345): when a replica that
//! crashed (and so never left its group) comes back under the same id, the broker hands it
//! its partitions at once. A dynamic member in its place waits until the group gives up on
//! the dead one (the session timeout). tansu 0.6 supports neither well: it rebalances a
//! group of static members over and over, and after a crash it can leave every partition
//! unowned (see `KafkaSubscription`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{Header, Headers as _, Message as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::bus::{
    BusError, EventBus, IncomingRecord, OutgoingRecord, PartialPublish, Subscription, TopicLag,
};

/// Settings of the Kafka adapter.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// Whether [`EventBus::ensure_topics`] creates missing topics; when `false` it only
    /// checks that they exist and names the first missing one.
    pub create_topics: bool,
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
    /// The longest a consumer's fetch waits at the broker for records (`fetch.wait.max.ms`).
    pub fetch_max_wait: Duration,
    /// The most records the producer puts in one batch of a partition
    /// (`batch.num.messages`); `None` keeps librdkafka's default (10,000). With tansu 0.6,
    /// the test broker, a consumer that resumes inside a batch of several records loses the
    /// rest of it and the group's lag is miscounted, so tests against it set 1.
    pub max_batch_records: Option<u32>,
    /// Client id reported to the broker, for its logs and quotas.
    pub client_id: String,
    /// This replica's stable identity in its consumer groups; `None` joins as a dynamic
    /// member. See [`group_instance_id`].
    pub instance_id: Option<String>,
}

impl KafkaOptions {
    /// Production defaults for `brokers`.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            create_topics: true,
            partitions: 3,
            replication_factor: 1,
            delivery_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(10),
            fetch_max_wait: Duration::from_millis(50),
            max_batch_records: None,
            client_id: "gigmesh".to_owned(),
            instance_id: None,
        }
    }

    /// The instance id a process gets when none is configured: the `HOSTNAME` variable,
    /// which Kubernetes sets to the pod name, the same across restarts of its container.
    /// `None` where it is unset or empty (a plain shell does not export it).
    pub fn instance_id_from_environment() -> Option<String> {
        std::env::var("HOSTNAME")
            .ok()
            .map(|hostname| hostname.trim().to_owned())
            .filter(|hostname| !hostname.is_empty())
    }
}

/// The `group.instance.id` of replica `instance_id` in consumer group `group`:
/// `<group>.<instance id>`, with characters Kafka does not allow in it replaced by `_`.
/// Kafka fences the older of two live members that share one, so it names the replica and
/// the group together.
pub fn group_instance_id(group: &str, instance_id: &str) -> String {
    format!("{group}.{instance_id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(249)
        .collect()
}

/// The Kafka adapter: one producer and one admin client per process, one consumer per
/// subscription.
pub struct KafkaBus {
    options: KafkaOptions,
    producer: FutureProducer,
    admin: Arc<AdminClient<DefaultClientContext>>,
    /// Per consumer group, a client that reads the group's committed offsets (it never joins
    /// the group), for [`EventBus::consumer_lag`].
    offset_readers: Mutex<HashMap<String, Arc<BaseConsumer>>>,
}

impl std::fmt::Debug for KafkaBus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KafkaBus")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A record's headers as Kafka headers.
fn kafka_headers(record: &OutgoingRecord) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
    for (key, value) in &record.headers {
        headers = headers.insert(Header {
            key,
            value: Some(value.as_slice()),
        });
    }
    headers
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
        let mut producer_config = ClientConfig::new();
        if let Some(records) = options.max_batch_records {
            producer_config.set("batch.num.messages", records.max(1).to_string());
        }
        let producer: FutureProducer = producer_config
            .set("bootstrap.servers", &options.brokers)
            .set("client.id", &options.client_id)
            .set("acks", "all")
            .set("enable.idempotence", "false")
            .set("max.in.flight.requests.per.connection", "1")
            .set("message.timeout.ms", &delivery_timeout_ms)
            // No batching delay: a record goes out at once, and records queued while a
            // request is in flight (the relay hands over a batch at a time) go together in
            // the next one.
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
            admin: Arc::new(admin),
            offset_readers: Mutex::new(HashMap::new()),
        })
    }

    /// Fails with the first of `topics` the cluster does not have.
    async fn check_topics_exist(&self, topics: &[&str]) -> Result<(), BusError> {
        let admin = Arc::clone(&self.admin);
        let timeout = self.options.delivery_timeout;
        // All topics rather than the wanted ones: asking for a missing topic by name can
        // make a broker with auto-creation enabled create it.
        let metadata =
            tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(None, timeout))
                .await
                .map_err(|_join_error| BusError::Closed)??;
        let existing: Vec<&str> = metadata
            .topics()
            .iter()
            .filter(|topic| topic.error().is_none())
            .map(|topic| topic.name())
            .collect();
        match topics.iter().find(|topic| !existing.contains(topic)) {
            Some(missing) => Err(BusError::MissingTopic((*missing).to_owned())),
            None => Ok(()),
        }
    }

    /// The client that reads `group`'s committed offsets, made on first use.
    fn offset_reader(&self, group: &str) -> Result<Arc<BaseConsumer>, BusError> {
        let mut readers = self
            .offset_readers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(reader) = readers.get(group) {
            return Ok(Arc::clone(reader));
        }
        let reader: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.options.brokers)
            .set("client.id", &self.options.client_id)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("allow.auto.create.topics", "false")
            .create()?;
        let reader = Arc::new(reader);
        readers.insert(group.to_owned(), Arc::clone(&reader));
        Ok(reader)
    }
}

/// Records of `topic` after `group`'s committed offsets, summed over its partitions; a
/// partition the group never committed counts from its earliest record, where the group
/// starts reading (`auto.offset.reset=earliest`). Blocks on the broker.
fn topic_lag(reader: &BaseConsumer, topic: &str, timeout: Duration) -> Result<u64, BusError> {
    Ok(positions(reader, topic, timeout)?
        .iter()
        .map(|(position, high)| u64::try_from(high - position).unwrap_or(0))
        .sum())
}

/// `(committed position, end of log)` of each partition of `topic` for the group of
/// `reader`. Blocks on the broker.
fn positions<C: ConsumerContext, K: Consumer<C>>(
    reader: &K,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<(i64, i64)>, BusError> {
    let metadata = reader.fetch_metadata(Some(topic), timeout)?;
    let Some(topic_metadata) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err(BusError::MissingTopic(topic.to_owned()));
    };
    if topic_metadata.error().is_some() {
        return Err(BusError::MissingTopic(topic.to_owned()));
    }
    let mut partitions = TopicPartitionList::new();
    for partition in topic_metadata.partitions() {
        partitions.add_partition(topic, partition.id());
    }
    let committed = reader.committed_offsets(partitions, timeout)?;
    let mut positions = Vec::new();
    for element in committed.elements() {
        let (low, high) = reader.fetch_watermarks(topic, element.partition(), timeout)?;
        let position = match element.offset() {
            Offset::Offset(offset) => offset.clamp(low, high),
            _ => low,
        };
        positions.push((position, high));
    }
    Ok(positions)
}

#[async_trait]
impl EventBus for KafkaBus {
    async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError> {
        if topics.is_empty() {
            return Ok(());
        }
        if !self.options.create_topics {
            return self.check_topics_exist(topics).await;
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
        let headers = kafka_headers(&record);
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

    /// Hands every record to the producer's queue in order, then waits for each delivery:
    /// librdkafka sends what queued up while a request was in flight in one produce
    /// request per partition, in order (one request in flight per connection).
    async fn publish_all(&self, records: Vec<OutgoingRecord>) -> Result<(), PartialPublish> {
        let mut deliveries = Vec::with_capacity(records.len());
        let mut enqueue_failure = None;
        for record in &records {
            let kafka_record = FutureRecord::to(&record.topic)
                .key(&record.key)
                .payload(&record.payload)
                .headers(kafka_headers(record));
            match self.producer.send_result(kafka_record) {
                Ok(delivery) => deliveries.push(delivery),
                // The local queue is full (or the record is refused): what is queued goes
                // on, the rest waits for the caller's next attempt.
                Err((error, _unsent)) => {
                    enqueue_failure = Some(BusError::Kafka(error));
                    break;
                }
            }
        }
        let mut published = 0;
        let mut first_failure = None;
        for delivery in deliveries {
            let outcome = match delivery.await {
                Ok(Ok(_delivered)) => Ok(()),
                Ok(Err((error, _message))) => Err(BusError::Kafka(error)),
                Err(_canceled) => Err(BusError::Closed),
            };
            match outcome {
                Ok(()) if first_failure.is_none() => published += 1,
                Ok(()) => {}
                Err(error) => {
                    first_failure.get_or_insert(error);
                }
            }
        }
        match first_failure.or(enqueue_failure) {
            None => Ok(()),
            Some(source) => Err(PartialPublish { published, source }),
        }
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn Subscription>, BusError> {
        let mut config = ClientConfig::new();
        config
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
            .set(
                "fetch.wait.max.ms",
                self.options.fetch_max_wait.as_millis().to_string(),
            )
            // Topics are created explicitly; notice a just-created one quickly.
            .set("allow.auto.create.topics", "false")
            .set("topic.metadata.refresh.interval.ms", "10000");
        if let Some(instance_id) = &self.options.instance_id {
            config.set("group.instance.id", group_instance_id(group, instance_id));
        }
        let topics: Vec<String> = topics.iter().map(|topic| (*topic).to_owned()).collect();
        let consumer = join_group(&config, &topics)?;
        Ok(Box::new(KafkaSubscription {
            consumer: Some(consumer),
            config,
            topics,
            commit_timeout: self.options.delivery_timeout,
            orphan_grace: (self.options.session_timeout / 2).max(MIN_ORPHAN_GRACE),
            orphan_check: None,
        }))
    }

    async fn consumer_lag(&self, group: &str, topics: &[&str]) -> Result<Vec<TopicLag>, BusError> {
        let reader = self.offset_reader(group)?;
        let topics: Vec<String> = topics.iter().map(|topic| (*topic).to_owned()).collect();
        let timeout = self.options.delivery_timeout;
        tokio::task::spawn_blocking(move || {
            topics
                .into_iter()
                .map(|topic| {
                    let lag = topic_lag(&reader, &topic, timeout)?;
                    Ok(TopicLag { topic, lag })
                })
                .collect()
        })
        .await
        .map_err(|_join_error| BusError::Closed)?
    }
}

/// Shortest wait before a member that was given no partitions checks whether the group's
/// records are being consumed at all.
const MIN_ORPHAN_GRACE: Duration = Duration::from_secs(3);

/// A member's client, with its view of the last rebalance.
type MemberConsumer = StreamConsumer<MembershipContext>;

/// Creates a consumer with `config` and subscribes it to `topics`.
fn join_group(config: &ClientConfig, topics: &[String]) -> Result<Arc<MemberConsumer>, BusError> {
    let consumer: MemberConsumer = config.create_with_context(MembershipContext::default())?;
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    Ok(Arc::new(consumer))
}

/// Remembers since when the member holds an empty assignment that a finished rebalance gave
/// it (not the wait for its first assignment, nor a rebalance under way).
#[derive(Default)]
struct MembershipContext {
    empty_since: Mutex<Option<Instant>>,
}

impl MembershipContext {
    fn empty_since(&self) -> Option<Instant> {
        *self
            .empty_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ClientContext for MembershipContext {}

impl ConsumerContext for MembershipContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let empty_since = match rebalance {
            Rebalance::Assign(assignment) if assignment.count() == 0 => Some(Instant::now()),
            _ => None,
        };
        *self
            .empty_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = empty_since;
    }
}

/// What a member without partitions saw of its group's positions, to compare later.
struct OrphanCheck {
    /// The empty assignment this check is about.
    empty_since: Instant,
    taken_at: Instant,
    /// Committed position and end of log of every partition.
    positions: Vec<(i64, i64)>,
}

/// A consumer group member.
///
/// Some brokers (tansu) can finish a rebalance after a member crashed with an assignment
/// made by the dead member, which gives the live ones nothing: the group then sits with
/// all partitions unowned until something else makes it rebalance. A member that was
/// given no partitions therefore watches the group: when records wait and no committed
/// offset moves for a while, nobody consumes them, and it joins the group again.
struct KafkaSubscription {
    /// Always `Some` until dropped.
    consumer: Option<Arc<MemberConsumer>>,
    /// How the consumer was made, to make it again when rejoining.
    config: ClientConfig,
    topics: Vec<String>,
    /// Longest wait for an offset commit.
    commit_timeout: Duration,
    /// How long committed offsets must stand still, while records wait and this member has
    /// no partitions, before it rejoins.
    orphan_grace: Duration,
    orphan_check: Option<OrphanCheck>,
}

impl KafkaSubscription {
    fn consumer(&self) -> Result<&Arc<MemberConsumer>, BusError> {
        self.consumer.as_ref().ok_or(BusError::Closed)
    }

    /// Rejoins the group when this member holds no partitions and nobody consumes the
    /// waiting records (see the type's documentation).
    async fn watch_orphaned_partitions(&mut self) -> Result<(), BusError> {
        let Some(empty_since) = self.consumer()?.context().empty_since() else {
            self.orphan_check = None;
            return Ok(());
        };
        let due = match &self.orphan_check {
            Some(check) if check.empty_since == empty_since => {
                check.taken_at.elapsed() >= self.orphan_grace
            }
            _ => true,
        };
        if !due {
            return Ok(());
        }
        let consumer = Arc::clone(self.consumer()?);
        let topics = self.topics.clone();
        let timeout = self.commit_timeout;
        let positions = tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            for topic in &topics {
                all.extend(positions(consumer.as_ref(), topic, timeout)?);
            }
            Ok::<_, BusError>(all)
        })
        .await
        .map_err(|_join_error| BusError::Closed)??;
        let waiting = positions.iter().any(|(position, high)| position < high);
        let stalled = self
            .orphan_check
            .as_ref()
            .is_some_and(|check| check.empty_since == empty_since && check.positions == positions);
        if waiting && stalled {
            tracing::warn!(
                topics = ?self.topics,
                "this consumer holds no partitions while records wait and no offset moves; \
                 joining the group again"
            );
            close_in_background(self.consumer.take());
            self.consumer = Some(join_group(&self.config, &self.topics)?);
            self.orphan_check = None;
        } else {
            self.orphan_check = Some(OrphanCheck {
                empty_since,
                taken_at: Instant::now(),
                positions,
            });
        }
        Ok(())
    }
}

/// Closes a consumer on a detached thread. Closing waits for the broker, possibly for long
/// when it is down: this neither blocks an async worker nor keeps the process from exiting.
/// A dynamic member leaves its group, so its partitions move to other members at once; a
/// static one (`group.instance.id`) stays until its session times out, so that a restart
/// under the same id finds them waiting.
fn close_in_background(consumer: Option<Arc<MemberConsumer>>) {
    let Some(consumer) = consumer else {
        return;
    };
    let closing = std::thread::Builder::new()
        .name("kafka-consumer-close".to_owned())
        .spawn(move || drop(consumer));
    if let Err(error) = closing {
        tracing::warn!(%error, "cannot close the Kafka consumer in the background");
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn next(&mut self, wait: Duration) -> Result<Option<IncomingRecord>, BusError> {
        if let Err(error) = self.watch_orphaned_partitions().await {
            tracing::debug!(%error, "cannot check whether the group's partitions are consumed");
        }
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
        close_in_background(self.consumer.take());
    }
}
