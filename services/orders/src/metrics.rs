//! The order service's own metrics: transitions by the kind of their timeline entry. The
//! per-RPC metrics come from the shared gRPC layer, the event metrics from shared/events.

use crate::domain::Change;

/// Order transitions, by the kind of their timeline entry.
const TRANSITIONS_TOTAL: &str = "gigmesh_orders_transitions_total";

/// Describes the order metrics to the recorder.
pub(crate) fn describe_metrics() {
    metrics::describe_counter!(
        TRANSITIONS_TOTAL,
        "order transitions (timeline entries) by kind: placed, paid, delivered, completed, ..."
    );
}

/// Counts the transitions of committed `changes`.
pub(crate) fn count_transitions(changes: &[Change]) {
    for change in changes {
        metrics::counter!(TRANSITIONS_TOTAL, "kind" => change.entry.kind.as_str()).increment(1);
    }
}
