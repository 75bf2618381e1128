//! Events that carry a secret leave no copy behind: the relay deletes their outbox rows once
//! published (other rows stay, marked sent) and marks their records, and a consumer that
//! gives up on one stores its dead letter without the payload. On the embedded bus, with
//! the service database on SQLite and on PostgreSQL.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gigmesh_db::{Backend, Db, Tx};
use gigmesh_events::{
    CARRIES_SECRET_HEADER, Consumer, EVENTS_MIGRATIONS, EmbeddedBus, Envelope, EventBus,
    EventHandler, HandlerError, PollOutcome, Relay, SharedBus, enqueue,
};
use gigmesh_proto::EventMessage;
use gigmesh_proto::auth::{EmailVerificationRequested, UserRegistered};
use gigmesh_testing::TestDatabase;
use sqlx::Row as _;

const TOPIC: &str = gigmesh_proto::auth::TOPIC;

/// Gives up on every event at once.
struct RefuseEverything;

#[async_trait]
impl EventHandler for RefuseEverything {
    async fn handle(&self, _tx: &mut Tx, _envelope: &Envelope) -> Result<(), HandlerError> {
        Err(HandlerError::permanent(anyhow::anyhow!("refused")))
    }
}

async fn commit<E: EventMessage>(db: &Db, event: &E) -> String {
    let mut tx = db.begin().await.unwrap();
    let event_id = enqueue(&mut tx, "u1", event).await.unwrap();
    tx.commit().await.unwrap();
    event_id.to_string()
}

async fn secret_events_leave_no_copy(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let db = database.db();
    db.migrate(&[&EVENTS_MIGRATIONS]).await.unwrap();
    let directory = tempfile::tempdir().unwrap();
    let bus = EmbeddedBus::open(directory.path().join("bus.db"))
        .await
        .unwrap();
    bus.ensure_topics(&[TOPIC]).await.unwrap();
    let bus: SharedBus = Arc::new(bus);
    let relay = Relay::new(db.clone(), bus.clone());
    let mut consumer = Consumer::new(
        "secret.auth-events",
        db.clone(),
        bus.clone(),
        &[TOPIC],
        Arc::new(RefuseEverything),
    )
    .await
    .unwrap();
    let mut observer = bus.subscribe("secret.observer", &[TOPIC]).await.unwrap();

    let plain = commit(
        db,
        &UserRegistered {
            user_id: "u1".to_owned(),
            ..UserRegistered::default()
        },
    )
    .await;
    let secret = commit(
        db,
        &EmailVerificationRequested {
            user_id: "u1".to_owned(),
            sealed_token: b"sealed bytes".to_vec(),
            ..EmailVerificationRequested::default()
        },
    )
    .await;
    assert_eq!(relay.run_once().await.unwrap(), 2);

    let kept: Vec<(String, bool)> = sqlx::query("SELECT event_id, send_time FROM outbox")
        .fetch_all(db.pool())
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (
                row.get("event_id"),
                row.get::<Option<i64>, _>("send_time").is_some(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [(plain.clone(), true)],
        "only the plain row is kept, sent"
    );

    let mut marked = Vec::new();
    while let Some(record) = observer.next(Duration::from_millis(200)).await.unwrap() {
        marked.push(
            record
                .headers
                .iter()
                .any(|(name, value)| name == CARRIES_SECRET_HEADER && value == b"true"),
        );
    }
    assert_eq!(marked, [false, true]);

    let outcomes = consumer.drain(Duration::from_millis(200)).await.unwrap();
    assert_eq!(
        outcomes,
        [
            PollOutcome::DeadLettered {
                event_id: plain.clone()
            },
            PollOutcome::DeadLettered {
                event_id: secret.clone()
            },
        ]
    );
    let dead_letters: Vec<(String, usize, String)> =
        sqlx::query("SELECT event_id, payload, error FROM dead_letters ORDER BY id")
            .fetch_all(db.pool())
            .await
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row.get("event_id"),
                    row.get::<Vec<u8>, _>("payload").len(),
                    row.get("error"),
                )
            })
            .collect();
    assert_eq!(dead_letters[0].0, plain);
    assert!(dead_letters[0].1 > 0, "a plain event's payload is kept");
    assert_eq!(
        (dead_letters[1].0.as_str(), dead_letters[1].1),
        (secret.as_str(), 0),
        "a secret-carrying event's payload is not kept"
    );
    assert_eq!(dead_letters[1].2, "refused");
}

gigmesh_testing::on_sqlite_and_postgres!(secret_events_leave_no_copy);
