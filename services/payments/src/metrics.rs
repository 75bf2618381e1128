//! The payment service's business metrics, counted once the change they count is
//! committed: money captured from buyers (gross merchandise value) and money refunded, in
//! minor units per currency. The per-RPC metrics come from the shared gRPC layer, the event
//! metrics from shared/events.

use gigmesh_types::Money;

/// Minor units captured from buyers (paid into escrow), by currency.
const CAPTURED_MINOR_TOTAL: &str = "gigmesh_payments_captured_minor_total";
/// Minor units refunded to buyers, by currency.
const REFUNDED_MINOR_TOTAL: &str = "gigmesh_payments_refunded_minor_total";

/// Describes the payment metrics to the recorder.
pub(crate) fn describe_metrics() {
    metrics::describe_counter!(
        CAPTURED_MINOR_TOTAL,
        "money captured from buyers into escrow (GMV), in minor units, by currency"
    );
    metrics::describe_counter!(
        REFUNDED_MINOR_TOTAL,
        "money refunded to buyers, in minor units, by currency"
    );
}

/// Counts a committed capture.
pub(crate) fn count_captured(amount: Money) {
    count(CAPTURED_MINOR_TOTAL, amount);
}

/// Counts a committed refund.
pub(crate) fn count_refunded(amount: Money) {
    count(REFUNDED_MINOR_TOTAL, amount);
}

fn count(name: &'static str, amount: Money) {
    let minor = u64::try_from(amount.amount_minor).unwrap_or(0);
    metrics::counter!(name, "currency" => amount.currency.code()).increment(minor);
}
