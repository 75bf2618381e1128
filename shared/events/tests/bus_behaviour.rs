//! One behaviour suite for the event machinery (outbox -> relay -> bus -> consumer -> inbox),
//! written once and run against both bus adapters (the embedded log and Kafka on a tansu
//! broker), each with the service database on SQLite and on PostgreSQL.
//!
//! Scenarios drive the one-step functions (`relay.run_once()`, `consumer.poll_once()`)
//! instead of sleeping; every scenario runs under an overall timeout. A consumer that must
//! die the way a crashed process does (no goodbye to its group) runs in a child process:
//! this test binary started again as `child_process::consumer`, then killed with SIGKILL.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use gigmesh_db::{Backend, Db, Tx};
use gigmesh_events::{
    BackgroundTask, BusError, Consumer, ConsumerSpec, EVENTS_MIGRATIONS, EmbeddedBus, Envelope,
    EventBus, EventHandler, HandlerError, IncomingRecord, KafkaBus, KafkaOptions, OutgoingRecord,
    PollOutcome, Relay, SharedBus, Subscription, TopicLag, decode, enqueue,
};
use gigmesh_proto::gigmesh::auth::v1::UserRegistered;
use gigmesh_testing::{TestDatabase, TestKafka};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sqlx::Row as _;
use tempfile::TempDir;
use tokio::sync::RwLock;
use tokio_util::sync::CancellationToken;

const TOPIC: &str = gigmesh_proto::auth::TOPIC;
const CONSUMER: &str = "behaviour.auth-events";
/// Overall limit of one scenario, broker start included.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(180);
/// Limit for a consumer to receive what a scenario expects (Kafka group joins included).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// One consumer step's wait for a record.
const STEP_WAIT: Duration = Duration::from_millis(500);
/// Limit for a consumer restarted right after a crash to receive a new event: a crashed
/// container comes back within seconds, and its events should follow about as promptly
/// (the group gives up on the dead run after its 10 s session timeout).
const RESTART_DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);
/// Environment of the child consumer process: how to reach the bus (`embedded:<path>` or
/// `kafka:<brokers>`), the service database URL, and the replica's instance id.
const CHILD_BUS_VARIABLE: &str = "GIGMESH_TEST_CHILD_BUS";
const CHILD_DATABASE_VARIABLE: &str = "GIGMESH_TEST_CHILD_DATABASE";
const CHILD_INSTANCE_VARIABLE: &str = "GIGMESH_TEST_CHILD_INSTANCE";

// ---------------------------------------------------------------------------------------
// The broker under test.

/// A bus adapter with the means to take its broker down and bring it back.
#[async_trait]
trait Broker: Send + Sync {
    fn bus(&self) -> SharedBus;
    /// How a child process reaches the same bus (see [`CHILD_BUS_VARIABLE`]).
    fn child_bus(&self) -> String;
    /// Makes the bus unreachable.
    async fn stop(&mut self);
    /// Makes it reachable again (with topics in place).
    async fn start(&mut self);
}

#[derive(Debug, Clone, Copy)]
enum Adapter {
    Embedded,
    Kafka,
}

async fn start_broker(adapter: Adapter) -> Option<Box<dyn Broker>> {
    match adapter {
        Adapter::Embedded => Some(Box::new(EmbeddedBroker::start().await)),
        Adapter::Kafka => {
            let kafka = TestKafka::start_or_skip().await?;
            Some(Box::new(KafkaBroker::start(kafka).await))
        }
    }
}

/// The embedded log in a temporary file. "Down" means closed; "up again" means reopened
/// from the same file, so what was durably appended before must still be there.
struct EmbeddedBroker {
    _directory: TempDir,
    path: PathBuf,
    switch: Arc<SwitchableBus>,
}

impl EmbeddedBroker {
    async fn start() -> Self {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("events.db");
        let bus = EmbeddedBus::open(&path).await.unwrap();
        bus.ensure_topics(&[TOPIC]).await.unwrap();
        Self {
            _directory: directory,
            path,
            switch: Arc::new(SwitchableBus {
                inner: RwLock::new(Some(bus)),
            }),
        }
    }
}

#[async_trait]
impl Broker for EmbeddedBroker {
    fn bus(&self) -> SharedBus {
        Arc::clone(&self.switch) as SharedBus
    }

    fn child_bus(&self) -> String {
        format!("embedded:{}", self.path.display())
    }

    async fn stop(&mut self) {
        if let Some(bus) = self.switch.inner.write().await.take() {
            bus.close().await;
        }
    }

    async fn start(&mut self) {
        let bus = EmbeddedBus::open(&self.path).await.unwrap();
        *self.switch.inner.write().await = Some(bus);
    }
}

/// Forwards to the embedded bus while it is open; fails like an unreachable broker while
/// it is closed.
struct SwitchableBus {
    inner: RwLock<Option<EmbeddedBus>>,
}

impl SwitchableBus {
    async fn current(&self) -> Result<EmbeddedBus, BusError> {
        self.inner.read().await.clone().ok_or(BusError::Closed)
    }
}

#[async_trait]
impl EventBus for SwitchableBus {
    async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError> {
        self.current().await?.ensure_topics(topics).await
    }

    async fn publish(&self, record: OutgoingRecord) -> Result<(), BusError> {
        self.current().await?.publish(record).await
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn Subscription>, BusError> {
        self.current().await?.subscribe(group, topics).await
    }

    async fn consumer_lag(&self, group: &str, topics: &[&str]) -> Result<Vec<TopicLag>, BusError> {
        self.current().await?.consumer_lag(group, topics).await
    }
}

/// Kafka on a tansu broker started for this test.
struct KafkaBroker {
    kafka: TestKafka,
    bus: SharedBus,
}

impl KafkaBroker {
    async fn start(kafka: TestKafka) -> Self {
        let bus: SharedBus = Arc::new(
            KafkaBus::with_options(kafka_options(&kafka.brokers()))
                .await
                .unwrap(),
        );
        bus.ensure_topics(&[TOPIC]).await.unwrap();
        Self { kafka, bus }
    }
}

/// The adapter's settings in these tests.
fn kafka_options(brokers: &str) -> KafkaOptions {
    let mut options = KafkaOptions::new(brokers);
    // Fail fast while the broker is down, so the outage scenario stays short.
    options.delivery_timeout = Duration::from_secs(5);
    options.session_timeout = Duration::from_secs(6);
    options.max_batch_records = Some(1);
    options
}

#[async_trait]
impl Broker for KafkaBroker {
    fn bus(&self) -> SharedBus {
        Arc::clone(&self.bus)
    }

    fn child_bus(&self) -> String {
        format!("kafka:{}", self.kafka.brokers())
    }

    async fn stop(&mut self) {
        self.kafka.stop().await;
    }

    async fn start(&mut self) {
        self.kafka.restart().await;
        // In-memory storage: the restarted broker has no topics.
        self.bus.ensure_topics(&[TOPIC]).await.unwrap();
    }
}

/// A bus whose subscriptions never manage to commit an offset: the consumer dies (is
/// dropped) after its database commit and before its offset commit.
struct OffsetCommitFails(SharedBus);

#[async_trait]
impl EventBus for OffsetCommitFails {
    async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError> {
        self.0.ensure_topics(topics).await
    }

    async fn publish(&self, record: OutgoingRecord) -> Result<(), BusError> {
        self.0.publish(record).await
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn Subscription>, BusError> {
        Ok(Box::new(CommitFailingSubscription(
            self.0.subscribe(group, topics).await?,
        )))
    }

    async fn consumer_lag(&self, group: &str, topics: &[&str]) -> Result<Vec<TopicLag>, BusError> {
        self.0.consumer_lag(group, topics).await
    }
}

struct CommitFailingSubscription(Box<dyn Subscription>);

#[async_trait]
impl Subscription for CommitFailingSubscription {
    async fn next(&mut self, wait: Duration) -> Result<Option<IncomingRecord>, BusError> {
        self.0.next(wait).await
    }

    async fn commit(&mut self, _record: &IncomingRecord) -> Result<(), BusError> {
        Err(BusError::Closed)
    }
}

// ---------------------------------------------------------------------------------------
// The service under test: a database with the event tables and a table of effects.

/// Applies `UserRegistered` events by recording them in `effects`; fails on events whose
/// username is `poison`.
struct RecordEffects;

#[async_trait]
impl EventHandler for RecordEffects {
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError> {
        let Some(event) = decode::<UserRegistered>(envelope) else {
            return Ok(());
        };
        let event = event?;
        if event.username == "poison" {
            return Err(HandlerError::transient(anyhow::anyhow!(
                "cannot apply the poison event"
            )));
        }
        let applied: i64 = sqlx::query("SELECT COUNT(*) FROM effects")
            .fetch_one(&mut **tx)
            .await?
            .get(0);
        sqlx::query(
            "INSERT INTO effects (event_id, aggregate_id, label, producer, applied_order) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&envelope.event_id)
        .bind(&envelope.aggregate_id)
        .bind(&event.username)
        .bind(&envelope.producer)
        .bind(applied + 1)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

async fn service_database(backend: Backend) -> TestDatabase {
    let database = TestDatabase::new(backend).await;
    database.db().migrate(&[&EVENTS_MIGRATIONS]).await.unwrap();
    sqlx::query(
        "CREATE TABLE effects (event_id TEXT NOT NULL, aggregate_id TEXT NOT NULL, \
         label TEXT NOT NULL, producer TEXT NOT NULL, applied_order BIGINT NOT NULL)",
    )
    .execute(database.db().pool())
    .await
    .unwrap();
    database
}

/// Commits one event about `user` labelled `label`; returns its event id.
async fn emit(db: &Db, user: &str, label: &str) -> String {
    let mut tx = db.begin().await.unwrap();
    let event_id = enqueue(&mut tx, user, &registered(user, label))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    event_id.to_string()
}

fn registered(user: &str, label: &str) -> UserRegistered {
    UserRegistered {
        user_id: user.to_owned(),
        email: format!("{user}@example.com"),
        username: label.to_owned(),
        create_time: None,
    }
}

async fn consumer(db: &Db, bus: SharedBus) -> Consumer {
    Consumer::new(CONSUMER, db.clone(), bus, &[TOPIC], Arc::new(RecordEffects))
        .await
        .unwrap()
}

/// Publishes until the outbox is empty.
async fn drain(relay: &Relay) -> usize {
    let mut total = 0;
    loop {
        let published = relay.run_once().await.unwrap();
        if published == 0 {
            return total;
        }
        total += published;
    }
}

/// Steps the consumer until it reports `count` outcomes other than `Idle`.
async fn consume(consumer: &mut Consumer, count: usize) -> Vec<PollOutcome> {
    let mut outcomes = Vec::new();
    let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
    while outcomes.len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {count} outcomes within {DELIVERY_TIMEOUT:?}, got {outcomes:?}"
        );
        match consumer.poll_once(STEP_WAIT).await.unwrap() {
            PollOutcome::Idle => {}
            outcome => outcomes.push(outcome),
        }
    }
    outcomes
}

/// `(aggregate_id, label)` of every applied effect, in the order applied.
async fn effects(db: &Db) -> Vec<(String, String)> {
    sqlx::query("SELECT aggregate_id, label FROM effects ORDER BY applied_order")
        .fetch_all(db.pool())
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

fn effect(user: &str, label: &str) -> (String, String) {
    (user.to_owned(), label.to_owned())
}

fn handled(event_id: &str) -> PollOutcome {
    PollOutcome::Handled {
        event_id: event_id.to_owned(),
    }
}

fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().unwrap())
}

/// Waits until `count` effects are applied by a consumer running elsewhere (a child
/// process), failing after `limit`.
async fn await_effects(db: &Db, count: usize, limit: Duration) -> Vec<(String, String)> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let applied = effects(db).await;
        if applied.len() >= count {
            return applied;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {count} effects within {limit:?}, got {applied:?}"
        );
        // The consumer runs in another process: there is no step to call.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A consumer in a child process (replica `instance` of a service), so that it can die the
/// way a crashed process does: without closing its client or leaving its group.
struct ChildConsumer {
    child: tokio::process::Child,
}

impl ChildConsumer {
    fn spawn(broker: &dyn Broker, database_url: &str, instance: &str) -> Self {
        let child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_process::consumer",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_BUS_VARIABLE, broker.child_bus())
            .env(CHILD_DATABASE_VARIABLE, database_url)
            .env(CHILD_INSTANCE_VARIABLE, instance)
            // The child exits when this pipe closes, should this process die first.
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Self { child }
    }

    /// SIGKILL, then waits until the process is gone.
    async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// The child side of [`ChildConsumer`]: runs the scenario's consumer until killed.
async fn run_child_consumer() {
    let (Ok(bus), Ok(database_url), Ok(instance)) = (
        std::env::var(CHILD_BUS_VARIABLE),
        std::env::var(CHILD_DATABASE_VARIABLE),
        std::env::var(CHILD_INSTANCE_VARIABLE),
    ) else {
        eprintln!("child_process::consumer runs only when started by a scenario");
        return;
    };
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let bus: SharedBus = match bus.split_once(':') {
        Some(("embedded", path)) => Arc::new(EmbeddedBus::open(path).await.unwrap()),
        Some(("kafka", brokers)) => {
            // The group settings a service runs with (its session timeout above all), not
            // the shorter ones of the other scenarios.
            let mut options = KafkaOptions::new(brokers);
            options.client_id = format!("gigmesh-{instance}");
            Arc::new(KafkaBus::with_options(options).await.unwrap())
        }
        _ => panic!("{CHILD_BUS_VARIABLE}={bus} is neither embedded:<path> nor kafka:<brokers>"),
    };
    let db = Db::connect(&database_url, 2).await.unwrap();
    let consumer = consumer(&db, bus).await;
    consumer.run(CancellationToken::new()).await;
}

/// Not a test: the consumer process of [`consumer_killed_without_leaving_is_replaced_promptly`],
/// which starts this binary again to run only this (ignored) function.
mod child_process {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "the child process of a scenario; does nothing when run on its own"]
    async fn consumer() {
        crate::run_child_consumer().await;
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios.

async fn committed_event_is_delivered(broker: Box<dyn Broker>, backend: Backend) {
    let service = service_database(backend).await;
    let db = service.db();
    let relay = Relay::new(db.clone(), broker.bus());
    let mut consumer = consumer(db, broker.bus()).await;

    let event_id = emit(db, "u1", "first").await;
    assert_eq!(relay.run_once().await.unwrap(), 1);
    assert_eq!(relay.backlog().await.unwrap(), 0);

    assert_eq!(consume(&mut consumer, 1).await, [handled(&event_id)]);
    assert_eq!(effects(db).await, [effect("u1", "first")]);
    let producer: String = sqlx::query("SELECT producer FROM effects")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(producer, "auth");
}

async fn rolled_back_event_is_never_delivered(broker: Box<dyn Broker>, backend: Backend) {
    let service = service_database(backend).await;
    let db = service.db();
    let relay = Relay::new(db.clone(), broker.bus());
    let mut consumer = consumer(db, broker.bus()).await;

    let mut tx = db.begin().await.unwrap();
    enqueue(&mut tx, "u1", &registered("u1", "rolled back"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let committed = emit(db, "u1", "committed").await;

    assert_eq!(drain(&relay).await, 1);
    assert_eq!(consume(&mut consumer, 1).await, [handled(&committed)]);
    assert_eq!(
        consumer.poll_once(Duration::from_secs(1)).await.unwrap(),
        PollOutcome::Idle
    );
    assert_eq!(effects(db).await, [effect("u1", "committed")]);
}

async fn redelivered_event_has_one_effect(broker: Box<dyn Broker>, backend: Backend) {
    let service = service_database(backend).await;
    let db = service.db();
    let relay = Relay::new(db.clone(), broker.bus());
    let mut consumer = consumer(db, broker.bus()).await;

    let event_id = emit(db, "u1", "once").await;
    assert_eq!(relay.run_once().await.unwrap(), 1);
    // The relay died after publishing and before marking the row sent: it publishes again.
    sqlx::query("UPDATE outbox SET send_time = NULL")
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(relay.run_once().await.unwrap(), 1);

    let outcomes = consume(&mut consumer, 2).await;
    assert_eq!(
        outcomes,
        [
            handled(&event_id),
            PollOutcome::Duplicate {
                event_id: event_id.clone()
            }
        ]
    );
    assert_eq!(effects(db).await, [effect("u1", "once")]);
}

async fn consumer_dying_before_offset_commit_has_one_effect(
    broker: Box<dyn Broker>,
    backend: Backend,
) {
    let service = service_database(backend).await;
    let db = service.db();
    let relay = Relay::new(db.clone(), broker.bus());
    let event_id = emit(db, "u1", "once").await;
    assert_eq!(relay.run_once().await.unwrap(), 1);

    let mut doomed = consumer(db, Arc::new(OffsetCommitFails(broker.bus()))).await;
    let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "no delivery");
        match doomed.poll_once(STEP_WAIT).await {
            Ok(PollOutcome::Idle) => {}
            Err(_offset_commit_failed) => break,
            Ok(outcome) => panic!("expected the offset commit to fail, got {outcome:?}"),
        }
    }
    assert_eq!(effects(db).await, [effect("u1", "once")]);
    drop(doomed);

    let mut successor = consumer(db, broker.bus()).await;
    assert_eq!(
        consume(&mut successor, 1).await,
        [PollOutcome::Duplicate {
            event_id: event_id.clone()
        }]
    );
    let next = emit(db, "u1", "next").await;
    assert_eq!(relay.run_once().await.unwrap(), 1);
    assert_eq!(consume(&mut successor, 1).await, [handled(&next)]);
    assert_eq!(
        effects(db).await,
        [effect("u1", "once"), effect("u1", "next")]
    );
}

async fn per_key_order_holds(broker: Box<dyn Broker>, backend: Backend) {
    let service = service_database(backend).await;
    let db = service.db();
    let relay = Relay::new(db.clone(), broker.bus()).with_batch_size(7);
    let mut consumer = consumer(db, broker.bus()).await;

    let users = ["u1", "u2", "u3", "u4"];
    let per_user = 6;
    for sequence in 0..per_user {
        for user in users {
            emit(db, user, &sequence.to_string()).await;
        }
    }
    let total = users.len() * per_user;
    assert_eq!(drain(&relay).await, total);

    let outcomes = consume(&mut consumer, total).await;
    assert!(
        outcomes
            .iter()
            .all(|outcome| matches!(outcome, PollOutcome::Handled { .. }))
    );
    let applied = effects(db).await;
    for user in users {
        let labels: Vec<String> = applied
            .iter()
            .filter(|(aggregate, _)| aggregate == user)
            .map(|(_, label)| label.clone())
            .collect();
        let expected: Vec<String> = (0..per_user).map(|sequence| sequence.to_string()).collect();
        assert_eq!(labels, expected, "events of {user} out of order");
    }
}

async fn failing_event_is_dead_lettered_without_blocking_the_next(
    broker: Box<dyn Broker>,
    backend: Backend,
) {
    let service = service_database(backend).await;
    let db = service.db();
    let metrics = metrics();
    let relay = Relay::new(db.clone(), broker.bus());
    let mut consumer = consumer(db, broker.bus()).await.with_max_attempts(3);

    // Same key: the healthy event is behind the poison one in the same partition.
    let poison = emit(db, "u1", "poison").await;
    let healthy = emit(db, "u1", "healthy").await;
    assert_eq!(drain(&relay).await, 2);

    let outcomes = consume(&mut consumer, 4).await;
    let failures: Vec<u32> = outcomes[..2]
        .iter()
        .map(|outcome| match outcome {
            PollOutcome::Failed {
                event_id, attempt, ..
            } if *event_id == poison => *attempt,
            other => panic!("expected a failed attempt of the poison event, got {other:?}"),
        })
        .collect();
    assert_eq!(failures, [1, 2]);
    assert_eq!(
        outcomes[2..],
        [
            PollOutcome::DeadLettered {
                event_id: poison.clone()
            },
            handled(&healthy)
        ]
    );
    assert_eq!(effects(db).await, [effect("u1", "healthy")]);

    let dead_letter = sqlx::query(
        "SELECT consumer, event_id, event_type, topic, record_key, attempts, error \
         FROM dead_letters",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(dead_letter.len(), 1);
    let dead_letter = &dead_letter[0];
    assert_eq!(dead_letter.get::<String, _>("consumer"), CONSUMER);
    assert_eq!(dead_letter.get::<String, _>("event_id"), poison);
    assert_eq!(
        dead_letter.get::<String, _>("event_type"),
        "gigmesh.auth.v1.UserRegistered"
    );
    assert_eq!(dead_letter.get::<String, _>("record_key"), "u1");
    assert_eq!(dead_letter.get::<i64, _>("attempts"), 3);
    assert!(dead_letter.get::<String, _>("error").contains("poison"));

    let exposition = metrics.render();
    assert!(
        exposition.contains(&format!(
            "gigmesh_events_dead_letters_total{{consumer=\"{CONSUMER}\"}} 1"
        )),
        "{exposition}"
    );

    // A redelivery of the dead-lettered event is skipped, not retried.
    sqlx::query("UPDATE outbox SET send_time = NULL WHERE event_id = $1")
        .bind(&poison)
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(relay.run_once().await.unwrap(), 1);
    assert_eq!(
        consume(&mut consumer, 1).await,
        [PollOutcome::Duplicate { event_id: poison }]
    );
}

async fn restarted_consumer_resumes_where_it_committed(broker: Box<dyn Broker>, backend: Backend) {
    let service = service_database(backend).await;
    let db = service.db();
    let relay = Relay::new(db.clone(), broker.bus());
    let mut first = consumer(db, broker.bus()).await;

    let events = [
        emit(db, "u1", "1").await,
        emit(db, "u1", "2").await,
        emit(db, "u1", "3").await,
    ];
    assert_eq!(drain(&relay).await, 3);
    assert_eq!(
        consume(&mut first, 2).await,
        [handled(&events[0]), handled(&events[1])]
    );
    drop(first);

    let fourth = emit(db, "u1", "4").await;
    assert_eq!(drain(&relay).await, 1);
    let mut second = consumer(db, broker.bus()).await;
    // Neither event 1 nor 2 comes back (not even as a duplicate): reading resumed after
    // the committed offset.
    assert_eq!(
        consume(&mut second, 2).await,
        [handled(&events[2]), handled(&fourth)]
    );
    assert_eq!(
        effects(db).await,
        [
            effect("u1", "1"),
            effect("u1", "2"),
            effect("u1", "3"),
            effect("u1", "4")
        ]
    );
}

async fn relay_survives_the_broker_being_down(mut broker: Box<dyn Broker>, backend: Backend) {
    let service = service_database(backend).await;
    let db = service.db();
    let relay = Relay::new(db.clone(), broker.bus());

    broker.stop().await;
    let first = emit(db, "u1", "during outage").await;
    let second = emit(db, "u2", "during outage").await;
    match relay.run_once().await {
        Ok(published) => assert_eq!(published, 0),
        Err(_broker_down) => {}
    }
    assert_eq!(relay.backlog().await.unwrap(), 2);

    broker.start().await;
    assert_eq!(drain(&relay).await, 2);
    assert_eq!(relay.backlog().await.unwrap(), 0);

    let mut consumer = consumer(db, broker.bus()).await;
    let mut outcomes = consume(&mut consumer, 2).await;
    outcomes.sort_by_key(|outcome| format!("{outcome:?}"));
    let mut expected = vec![handled(&first), handled(&second)];
    expected.sort_by_key(|outcome| format!("{outcome:?}"));
    assert_eq!(outcomes, expected);
}

/// What the binary does: spawn the relay and the consumer as background tasks; events flow
/// without anyone stepping them, and both stop when shutdown is signalled.
async fn background_tasks_deliver_and_stop_on_shutdown(broker: Box<dyn Broker>, backend: Backend) {
    let service = service_database(backend).await;
    let db = service.db();
    let shutdown = CancellationToken::new();
    let tasks: Vec<Box<dyn BackgroundTask>> = vec![
        Box::new(
            Relay::new(db.clone(), broker.bus())
                .with_name("behaviour")
                .with_poll_interval(Duration::from_millis(20)),
        ),
        Box::new(consumer(db, broker.bus()).await),
    ];
    let names: Vec<String> = tasks.iter().map(|task| task.name().to_owned()).collect();
    assert_eq!(names, ["behaviour", CONSUMER]);
    let running: Vec<_> = tasks
        .into_iter()
        .map(|task| tokio::spawn(task.run(shutdown.clone())))
        .collect();

    emit(db, "u1", "1").await;
    emit(db, "u2", "1").await;
    let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
    while effects(db).await.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "background tasks did not deliver"
        );
        // Waiting on loops that run by themselves: there is no step to call.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    shutdown.cancel();
    for task in running {
        tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .expect("background task stops on shutdown")
            .unwrap();
    }
    assert_eq!(effects(db).await.len(), 2);
}

/// A commit that enqueued events wakes the relay: with a poll interval of an hour, the
/// events still reach the consumer.
async fn a_commit_wakes_the_relay(broker: Box<dyn Broker>, backend: Backend) {
    let service = service_database(backend).await;
    let db = service.db();
    let shutdown = CancellationToken::new();
    let relay = Relay::new(db.clone(), broker.bus()).with_poll_interval(Duration::from_secs(3600));
    let tasks: Vec<Box<dyn BackgroundTask>> =
        vec![Box::new(relay), Box::new(consumer(db, broker.bus()).await)];
    let running: Vec<_> = tasks
        .into_iter()
        .map(|task| tokio::spawn(task.run(shutdown.clone())))
        .collect();
    // Past the relay's first run, which would publish whatever is there already.
    tokio::time::sleep(Duration::from_millis(500)).await;

    emit(db, "u1", "1").await;
    let mut tx = db.begin().await.unwrap();
    enqueue(&mut tx, "u2", &registered("u2", "rolled back"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    emit(db, "u2", "2").await;
    let mut applied = await_effects(db, 2, DELIVERY_TIMEOUT).await;
    applied.sort();
    assert_eq!(applied, [effect("u1", "1"), effect("u2", "2")]);

    shutdown.cancel();
    for task in running {
        tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .expect("background task stops on shutdown")
            .unwrap();
    }
}

/// Two relays share one PostgreSQL outbox (replicas of a service): every event is published
/// once and each key's events stay in order.
async fn concurrent_relays_share_the_outbox_in_order(broker: Box<dyn Broker>, backend: Backend) {
    let service = service_database(backend).await;
    let db = service.db();
    let users = ["u1", "u2", "u3"];
    let per_user = 10;
    for sequence in 0..per_user {
        for user in users {
            emit(db, user, &sequence.to_string()).await;
        }
    }
    let total = users.len() * per_user;

    let relays = [
        Arc::new(Relay::new(db.clone(), broker.bus()).with_batch_size(4)),
        Arc::new(Relay::new(db.clone(), broker.bus()).with_batch_size(4)),
    ];
    let workers: Vec<_> = relays
        .iter()
        .map(|relay| {
            let relay = Arc::clone(relay);
            tokio::spawn(async move {
                let mut published = 0;
                while relay.backlog().await.unwrap() > 0 {
                    published += relay.run_once().await.unwrap();
                    tokio::task::yield_now().await;
                }
                published
            })
        })
        .collect();
    let mut published = 0;
    for worker in workers {
        published += worker.await.unwrap();
    }
    assert_eq!(published, total);

    let mut consumer = consumer(db, broker.bus()).await;
    let outcomes = consume(&mut consumer, total).await;
    assert!(
        outcomes
            .iter()
            .all(|outcome| matches!(outcome, PollOutcome::Handled { .. }))
    );
    let applied = effects(db).await;
    for user in users {
        let labels: Vec<String> = applied
            .iter()
            .filter(|(aggregate, _)| aggregate == user)
            .map(|(_, label)| label.clone())
            .collect();
        let expected: Vec<String> = (0..per_user).map(|sequence| sequence.to_string()).collect();
        assert_eq!(labels, expected, "events of {user} out of order");
    }
}

/// A replica that crashes (SIGKILL: no offset commit in flight, no goodbye to its group) and
/// is started again at once under the same identity, as Kubernetes restarts a crashed
/// container in the same pod, gets new events within seconds: the group must not wait for
/// the dead run's session before it hands the partitions to the new one.
async fn consumer_killed_without_leaving_is_replaced_promptly(
    broker: Box<dyn Broker>,
    backend: Backend,
) {
    let service = service_database(backend).await;
    let db = service.db();
    let relay = Relay::new(db.clone(), broker.bus());

    let crashing = ChildConsumer::spawn(&*broker, service.url(), "replica-0");
    emit(db, "u1", "before the crash").await;
    assert_eq!(drain(&relay).await, 1);
    await_effects(db, 1, DELIVERY_TIMEOUT).await;
    crashing.kill().await;

    let restarted = ChildConsumer::spawn(&*broker, service.url(), "replica-0");
    emit(db, "u1", "after the restart").await;
    assert_eq!(drain(&relay).await, 1);
    let applied = await_effects(db, 2, RESTART_DELIVERY_TIMEOUT).await;
    assert_eq!(
        applied,
        [
            effect("u1", "before the crash"),
            effect("u1", "after the restart")
        ]
    );
    restarted.kill().await;
}

/// The lag is what the group has not committed, whether a member runs or not, and it is
/// exported as `gigmesh_events_consumer_lag{consumer, topic}`.
async fn consumer_lag_counts_uncommitted_records(broker: Box<dyn Broker>, backend: Backend) {
    let service = service_database(backend).await;
    let db = service.db();
    let metrics = metrics();
    let relay = Relay::new(db.clone(), broker.bus());
    let spec = ConsumerSpec::new(
        CONSUMER,
        db.clone(),
        broker.bus(),
        &[TOPIC],
        Arc::new(RecordEffects),
    );
    let lag = |lag: u64| {
        vec![TopicLag {
            topic: TOPIC.to_owned(),
            lag,
        }]
    };

    assert_eq!(spec.report_lag().await.unwrap(), lag(0));
    for label in ["1", "2", "3"] {
        emit(db, "u1", label).await;
    }
    assert_eq!(drain(&relay).await, 3);
    assert_eq!(spec.report_lag().await.unwrap(), lag(3));

    let mut consumer = spec.subscribe().await.unwrap();
    assert_eq!(consume(&mut consumer, 2).await.len(), 2);
    assert_eq!(spec.report_lag().await.unwrap(), lag(1));
    let exposition = metrics.render();
    assert!(
        exposition.contains(&format!(
            "gigmesh_events_consumer_lag{{consumer=\"{CONSUMER}\",topic=\"{TOPIC}\"}} 1"
        )),
        "{exposition}"
    );

    assert_eq!(consume(&mut consumer, 1).await.len(), 1);
    assert_eq!(spec.report_lag().await.unwrap(), lag(0));
}

// ---------------------------------------------------------------------------------------
// Instantiation: every scenario for each adapter and each service database backend.

async fn run_scenario<S, F>(adapter: Adapter, backend: Backend, scenario: S)
where
    S: FnOnce(Box<dyn Broker>, Backend) -> F,
    F: Future<Output = ()>,
{
    tokio::time::timeout(SCENARIO_TIMEOUT, async {
        let Some(broker) = start_broker(adapter).await else {
            return;
        };
        scenario(broker, backend).await;
    })
    .await
    .unwrap_or_else(|_| panic!("scenario did not finish within {SCENARIO_TIMEOUT:?}"));
}

macro_rules! suite {
    ($adapter:ident: $($scenario:ident),+ $(,)?) => {
        mod $adapter {
            mod sqlite {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $scenario() {
                        crate::run_scenario(
                            crate::adapter(stringify!($adapter)),
                            gigmesh_db::Backend::Sqlite,
                            crate::$scenario,
                        )
                        .await;
                    }
                )+
            }
            mod postgres {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $scenario() {
                        crate::run_scenario(
                            crate::adapter(stringify!($adapter)),
                            gigmesh_db::Backend::Postgres,
                            crate::$scenario,
                        )
                        .await;
                    }
                )+
            }
        }
    };
}

fn adapter(name: &str) -> Adapter {
    match name {
        "embedded" => Adapter::Embedded,
        "kafka" => Adapter::Kafka,
        other => panic!("unknown adapter {other}"),
    }
}

suite!(embedded:
    committed_event_is_delivered,
    rolled_back_event_is_never_delivered,
    redelivered_event_has_one_effect,
    consumer_dying_before_offset_commit_has_one_effect,
    per_key_order_holds,
    failing_event_is_dead_lettered_without_blocking_the_next,
    restarted_consumer_resumes_where_it_committed,
    relay_survives_the_broker_being_down,
    background_tasks_deliver_and_stop_on_shutdown,
    a_commit_wakes_the_relay,
    consumer_killed_without_leaving_is_replaced_promptly,
    consumer_lag_counts_uncommitted_records,
);

suite!(kafka:
    committed_event_is_delivered,
    rolled_back_event_is_never_delivered,
    redelivered_event_has_one_effect,
    consumer_dying_before_offset_commit_has_one_effect,
    per_key_order_holds,
    failing_event_is_dead_lettered_without_blocking_the_next,
    restarted_consumer_resumes_where_it_committed,
    relay_survives_the_broker_being_down,
    background_tasks_deliver_and_stop_on_shutdown,
    a_commit_wakes_the_relay,
    consumer_killed_without_leaving_is_replaced_promptly,
    consumer_lag_counts_uncommitted_records,
);

/// Replicas share an outbox only on PostgreSQL (SQLite runs one relay per database).
mod shared_outbox {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_bus_with_concurrent_postgres_relays() {
        crate::run_scenario(
            crate::Adapter::Embedded,
            gigmesh_db::Backend::Postgres,
            crate::concurrent_relays_share_the_outbox_in_order,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kafka_with_concurrent_postgres_relays() {
        crate::run_scenario(
            crate::Adapter::Kafka,
            gigmesh_db::Backend::Postgres,
            crate::concurrent_relays_share_the_outbox_in_order,
        )
        .await;
    }
}
