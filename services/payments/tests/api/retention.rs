//! Retention: the webhook events remembered for deduplication and the sandbox's delivered
//! events go after a month; an undelivered sandbox event and the fresh ones stay.

use gigmesh_runtime::Service as _;
use gigmesh_runtime::retention::{Retention, RetentionConfig};
use gigmesh_testing::Backend;
use gigmesh_types::now_millis;

use crate::support::TestPayments;

gigmesh_testing::on_sqlite_and_postgres!(webhook_events_past_a_month_are_deleted_and_nothing_else);

const DAY: i64 = 24 * 60 * 60 * 1000;

async fn execute(payments: &TestPayments, sql: &str, time: i64) {
    sqlx::query(sql)
        .bind(time)
        .execute(payments.db().pool())
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

async fn count(payments: &TestPayments, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(payments.db().pool())
        .await
        .expect("count")
}

async fn webhook_events_past_a_month_are_deleted_and_nothing_else(backend: Backend) {
    let payments = TestPayments::start(backend).await;
    let now = now_millis();
    for (id, time) in [("evt_old", now - 31 * DAY), ("evt_new", now - DAY)] {
        execute(
            &payments,
            &format!(
                "INSERT INTO webhook_events (event_id, event_type, receive_time) \
                 VALUES ('{id}', 'payment_intent.succeeded', $1)"
            ),
            time,
        )
        .await;
    }
    for (id, delivered, time) in [
        ("evt_sb_old", "TRUE", now - 31 * DAY),
        ("evt_sb_stuck", "FALSE", now - 31 * DAY),
        ("evt_sb_new", "TRUE", now - DAY),
    ] {
        execute(
            &payments,
            &format!(
                "INSERT INTO sandbox_webhook_events \
                 (id, event_type, payload, create_time, delivered, attempts, next_attempt_time) \
                 VALUES ('{id}', 'payment_intent.succeeded', '{{}}', $1, {delivered}, 1, $1)"
            ),
            time,
        )
        .await;
    }

    let retention = Retention::new(
        "payments",
        gigmesh_payments::App::DESCRIPTION.retention,
        payments.db().clone(),
        &RetentionConfig::default(),
    );
    let deleted = retention.run_once().await.expect("retention");
    let deleted_by = |name: &str| {
        deleted
            .iter()
            .find(|(rule, _)| *rule == name)
            .map(|(_, count)| *count)
            .unwrap_or_else(|| panic!("no rule {name}"))
    };
    assert_eq!(deleted_by("webhook_events"), 1);
    assert_eq!(deleted_by("sandbox_webhook_events"), 1);
    assert_eq!(count(&payments, "webhook_events").await, 1);
    assert_eq!(count(&payments, "sandbox_webhook_events").await, 2);
    let again = retention.run_once().await.expect("retention");
    assert!(again.iter().all(|(_, count)| *count == 0), "{again:?}");
}
