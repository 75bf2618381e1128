//! Metric names of the event machinery, described once for Prometheus.

use std::sync::Once;

/// Unsent outbox rows, per relay (gauge).
pub(crate) const OUTBOX_BACKLOG: &str = "gigmesh_outbox_backlog";
/// Records published by relays, per topic (counter).
pub(crate) const EVENTS_PUBLISHED: &str = "gigmesh_events_published_total";
/// Records a consumer finished with, per consumer and outcome (counter).
pub(crate) const EVENTS_CONSUMED: &str = "gigmesh_events_consumed_total";
/// Events a consumer gave up on, per consumer (counter).
pub(crate) const DEAD_LETTERS: &str = "gigmesh_events_dead_letters_total";
/// Records a consumer group has not committed yet, per consumer group and topic (gauge).
pub(crate) const CONSUMER_LAG: &str = "gigmesh_events_consumer_lag";

/// Registers help texts with whatever recorder is installed; later calls do nothing.
pub(crate) fn describe() {
    static DESCRIBE: Once = Once::new();
    DESCRIBE.call_once(|| {
        metrics::describe_gauge!(
            OUTBOX_BACKLOG,
            "Outbox rows not yet published to the event bus."
        );
        metrics::describe_counter!(
            EVENTS_PUBLISHED,
            "Events published from the outbox to the event bus."
        );
        metrics::describe_counter!(
            EVENTS_CONSUMED,
            "Events a consumer finished with, by outcome (handled, duplicate, dead_lettered)."
        );
        metrics::describe_counter!(
            DEAD_LETTERS,
            "Events a consumer gave up on after its retries and stored as dead letters."
        );
        metrics::describe_gauge!(
            CONSUMER_LAG,
            "Records between a consumer group's committed position and the end of a topic."
        );
    });
}
