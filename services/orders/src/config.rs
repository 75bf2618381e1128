//! The order service's settings (`orders.settings`): how long orders wait for payment, for
//! the buyer after a delivery and for answers to requests, when a late order may be
//! cancelled by the buyer alone, how often timers are looked at, and the fees.

use gigmesh_config::{Problems, Validate};
use serde::{Deserialize, Serialize};

use crate::domain::{FeeSchedule, Rules};

/// Basis points in a whole: no share may exceed it.
const MAX_BASIS_POINTS: i64 = 10_000;

/// Settings of the order service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How long a placed order waits for its payment before it expires (default 30
    /// minutes).
    pub payment_window_seconds: i64,
    /// How long a delivered order waits for the buyer to accept or ask for a revision
    /// before it completes by itself (default 3 days).
    pub auto_complete_after_seconds: i64,
    /// How long past its due time an undelivered order must be before the buyer may cancel
    /// it alone, with a full refund (default 1 day).
    pub late_cancel_after_seconds: i64,
    /// How long an extension or cancellation request waits for the other side's answer
    /// before it accepts itself (default 2 days).
    pub request_answer_window_seconds: i64,
    /// Pause between two runs of the timer loop (default 1 second).
    pub timer_interval_seconds: u64,
    /// Orders with due timers handled per run of the timer loop (default 100).
    pub timer_batch_size: u32,
    /// The buyer's service fee, a share of the subtotal in basis points (default 550 =
    /// 5.5%).
    pub buyer_fee_basis_points: i64,
    /// Added to the service fee of orders whose subtotal is below
    /// `small_order_threshold_minor`, in minor units of the order's currency (default 250).
    pub small_order_fee_minor: i64,
    /// Subtotals below this pay the small-order fee, in minor units (default 4000).
    pub small_order_threshold_minor: i64,
    /// The marketplace's commission, a share of what the seller is paid in basis points
    /// (default 2000 = 20%).
    pub seller_commission_basis_points: i64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            payment_window_seconds: 1_800,
            auto_complete_after_seconds: 3 * 86_400,
            late_cancel_after_seconds: 86_400,
            request_answer_window_seconds: 2 * 86_400,
            timer_interval_seconds: 1,
            timer_batch_size: 100,
            buyer_fee_basis_points: 550,
            small_order_fee_minor: 250,
            small_order_threshold_minor: 4_000,
            seller_commission_basis_points: 2_000,
        }
    }
}

impl Config {
    /// The fees, as the domain applies them.
    pub fn fees(&self) -> FeeSchedule {
        FeeSchedule {
            buyer_fee_basis_points: self.buyer_fee_basis_points,
            small_order_fee_minor: self.small_order_fee_minor,
            small_order_threshold_minor: self.small_order_threshold_minor,
            seller_commission_basis_points: self.seller_commission_basis_points,
        }
    }

    /// The timings and commission, as the transitions apply them.
    pub fn rules(&self) -> Rules {
        Rules {
            auto_complete_after_millis: self.auto_complete_after_seconds.saturating_mul(1_000),
            late_cancel_after_millis: self.late_cancel_after_seconds.saturating_mul(1_000),
            request_answer_window_millis: self.request_answer_window_seconds.saturating_mul(1_000),
            seller_commission_basis_points: self.seller_commission_basis_points,
        }
    }

    /// The payment window in milliseconds.
    pub fn payment_window_millis(&self) -> i64 {
        self.payment_window_seconds.saturating_mul(1_000)
    }
}

impl Validate for Config {
    fn validate(&self, path: &str, problems: &mut Problems) {
        for (key, seconds) in [
            ("payment_window_seconds", self.payment_window_seconds),
            (
                "auto_complete_after_seconds",
                self.auto_complete_after_seconds,
            ),
            (
                "request_answer_window_seconds",
                self.request_answer_window_seconds,
            ),
        ] {
            if seconds < 1 {
                problems.add(path, key, "must be at least 1");
            }
        }
        if self.late_cancel_after_seconds < 0 {
            problems.add(path, "late_cancel_after_seconds", "must not be negative");
        }
        if self.timer_interval_seconds < 1 {
            problems.add(path, "timer_interval_seconds", "must be at least 1");
        }
        if self.timer_batch_size < 1 {
            problems.add(path, "timer_batch_size", "must be at least 1");
        }
        for (key, basis_points) in [
            ("buyer_fee_basis_points", self.buyer_fee_basis_points),
            (
                "seller_commission_basis_points",
                self.seller_commission_basis_points,
            ),
        ] {
            if !(0..=MAX_BASIS_POINTS).contains(&basis_points) {
                problems.add(path, key, "must be between 0 and 10000 (basis points)");
            }
        }
        for (key, minor) in [
            ("small_order_fee_minor", self.small_order_fee_minor),
            (
                "small_order_threshold_minor",
                self.small_order_threshold_minor,
            ),
        ] {
            if minor < 0 {
                problems.add(path, key, "must not be negative");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_contract_and_unknown_keys_are_refused() {
        let parsed: Config = serde_json::from_str("{}").expect("config");
        assert_eq!(parsed.payment_window_seconds, 1_800);
        assert_eq!(parsed.auto_complete_after_seconds, 259_200);
        assert_eq!(parsed.late_cancel_after_seconds, 86_400);
        assert_eq!(parsed.request_answer_window_seconds, 172_800);
        assert_eq!(parsed.buyer_fee_basis_points, 550);
        assert_eq!(parsed.small_order_fee_minor, 250);
        assert_eq!(parsed.small_order_threshold_minor, 4_000);
        assert_eq!(parsed.seller_commission_basis_points, 2_000);
        assert!(gigmesh_config::check(&parsed, "orders.settings").is_ok());
        assert!(serde_json::from_str::<Config>(r#"{"nope": 1}"#).is_err());
    }

    #[test]
    fn every_problem_is_named() {
        let bad = Config {
            payment_window_seconds: 0,
            timer_batch_size: 0,
            buyer_fee_basis_points: 10_001,
            seller_commission_basis_points: -1,
            small_order_fee_minor: -5,
            ..Config::default()
        };
        let error = gigmesh_config::check(&bad, "orders.settings").expect_err("refused");
        let text = error.to_string();
        for key in [
            "orders.settings.payment_window_seconds",
            "orders.settings.timer_batch_size",
            "orders.settings.buyer_fee_basis_points",
            "orders.settings.seller_commission_basis_points",
            "orders.settings.small_order_fee_minor",
        ] {
            assert!(text.contains(key), "{key}: {text}");
        }
    }
}
