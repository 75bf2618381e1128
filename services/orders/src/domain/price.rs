//! What an order costs and how its money is settled, with the one rounding rule: a share in
//! basis points of a non-negative amount is `round_half_up(amount * bp / 10_000)`, computed
//! in `i128` as `(amount * bp + 5_000) / 10_000`, and each fee is rounded once.
//!
//! Every settlement splits exactly what was paid: `refund + platform_fee + seller_earnings`
//! is the paid amount, and no part is negative.

use gigmesh_types::{Currency, Money};
use serde::{Deserialize, Serialize};

/// Basis points in a whole.
pub const BASIS_POINTS_PER_WHOLE: i64 = 10_000;

/// The fees the marketplace charges (`orders.settings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeSchedule {
    /// The buyer's service fee, a share of the subtotal in basis points.
    pub buyer_fee_basis_points: i64,
    /// Added to the service fee when the subtotal is below `small_order_threshold_minor`.
    pub small_order_fee_minor: i64,
    /// Subtotals below this pay the small-order fee.
    pub small_order_threshold_minor: i64,
    /// The seller's commission, a share of what the seller is paid, in basis points.
    pub seller_commission_basis_points: i64,
}

/// `amount * basis_points / 10_000` rounded half up to the minor unit; `amount` and
/// `basis_points` are non-negative (negative inputs count as zero).
pub fn share(amount_minor: i64, basis_points: i64) -> i64 {
    let amount = i128::from(amount_minor.max(0));
    let basis_points = i128::from(basis_points.max(0));
    let rounded = (amount * basis_points + 5_000) / i128::from(BASIS_POINTS_PER_WHOLE);
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// The price of an order, fixed when it is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    /// The package and extras.
    pub subtotal: Money,
    /// The buyer's service fee.
    pub service_fee: Money,
    /// What the buyer pays: subtotal + service fee.
    pub total: Money,
    /// The marketplace's commission on the subtotal.
    pub seller_commission: Money,
    /// What the seller earns: subtotal - commission.
    pub seller_earnings: Money,
}

impl Price {
    /// The price of a `subtotal` under `fees`. `None` when the amounts overflow.
    pub fn of_subtotal(subtotal: Money, fees: &FeeSchedule) -> Option<Price> {
        let currency = subtotal.currency;
        let mut service_fee = share(subtotal.amount_minor, fees.buyer_fee_basis_points);
        if subtotal.amount_minor < fees.small_order_threshold_minor {
            service_fee = service_fee.checked_add(fees.small_order_fee_minor.max(0))?;
        }
        let commission = share(subtotal.amount_minor, fees.seller_commission_basis_points);
        Some(Price {
            subtotal,
            service_fee: Money::new(service_fee, currency),
            total: Money::new(subtotal.amount_minor.checked_add(service_fee)?, currency),
            seller_commission: Money::new(commission, currency),
            seller_earnings: Money::new(subtotal.amount_minor.checked_sub(commission)?, currency),
        })
    }

    /// The order's currency.
    pub fn currency(&self) -> Currency {
        self.total.currency
    }

    /// Completion (accepted, auto-completed, or released by an admin): nothing back, the
    /// marketplace keeps the service fee and the commission, the seller earns the rest.
    pub fn completion_settlement(&self) -> Settlement {
        Settlement {
            refund: Money::zero(self.currency()),
            platform_fee: Money::new(
                self.service_fee.amount_minor + self.seller_commission.amount_minor,
                self.currency(),
            ),
            seller_earnings: self.seller_earnings,
        }
    }

    /// A cancellation after payment, or a dispute refunded in full: the whole total back.
    pub fn full_refund_settlement(&self) -> Settlement {
        Settlement::refund_only(self.total)
    }

    /// A dispute split: `refund` of the subtotal back to the buyer (0 < refund < subtotal),
    /// the commission taken again on what the seller is paid, the service fee kept.
    pub fn split_settlement(
        &self,
        refund: Money,
        seller_commission_basis_points: i64,
    ) -> Settlement {
        let gross = self.subtotal.amount_minor - refund.amount_minor;
        let commission = share(gross, seller_commission_basis_points);
        Settlement {
            refund,
            platform_fee: Money::new(self.service_fee.amount_minor + commission, self.currency()),
            seller_earnings: Money::new(gross - commission, self.currency()),
        }
    }
}

/// How the money of a paid order is settled when it closes, or of a refused payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// Back to the buyer.
    pub refund: Money,
    /// Kept by the marketplace.
    pub platform_fee: Money,
    /// To the seller.
    pub seller_earnings: Money,
}

impl Settlement {
    /// All of `amount` back to the buyer (a full refund, or a refused payment).
    pub fn refund_only(amount: Money) -> Settlement {
        Settlement {
            refund: amount,
            platform_fee: Money::zero(amount.currency),
            seller_earnings: Money::zero(amount.currency),
        }
    }

    /// refund + platform fee + seller earnings, in minor units.
    #[cfg(test)]
    pub fn sum_minor(&self) -> i128 {
        i128::from(self.refund.amount_minor)
            + i128::from(self.platform_fee.amount_minor)
            + i128::from(self.seller_earnings.amount_minor)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const FEES: FeeSchedule = FeeSchedule {
        buyer_fee_basis_points: 550,
        small_order_fee_minor: 250,
        small_order_threshold_minor: 4_000,
        seller_commission_basis_points: 2_000,
    };

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::USD)
    }

    #[test]
    fn shares_round_half_up_once() {
        assert_eq!(share(10_000, 550), 550);
        // 5.5% of 1,010 is 55.55 -> 56; of 1,009 is 55.495 -> 55; of 1,000 is 55 exactly.
        assert_eq!(share(1_010, 550), 56);
        assert_eq!(share(1_009, 550), 55);
        assert_eq!(share(1_000, 550), 55);
        // Exactly half rounds up: 20% of 2.5 minor units.
        assert_eq!(share(25, 2_000), 5);
        assert_eq!(share(5, 1_000), 1);
        assert_eq!(share(4, 1_000), 0);
        assert_eq!(share(0, 2_000), 0);
        assert_eq!(share(i64::MAX, 10_000), i64::MAX);
    }

    #[test]
    fn small_orders_pay_the_small_order_fee_below_the_threshold() {
        let small = Price::of_subtotal(usd(3_999), &FEES).expect("price");
        // 5.5% of 39.99 = 2.19945 -> 2.20, plus 2.50.
        assert_eq!(small.service_fee, usd(220 + 250));
        assert_eq!(small.total, usd(3_999 + 470));
        assert_eq!(small.seller_commission, usd(800));
        assert_eq!(small.seller_earnings, usd(3_199));
        let at_threshold = Price::of_subtotal(usd(4_000), &FEES).expect("price");
        assert_eq!(at_threshold.service_fee, usd(220));
        assert_eq!(at_threshold.total, usd(4_220));
    }

    #[test]
    fn settlements_follow_the_contract() {
        let price = Price::of_subtotal(usd(7_000), &FEES).expect("price");
        assert_eq!(price.service_fee, usd(385));
        assert_eq!(price.seller_commission, usd(1_400));
        let completed = price.completion_settlement();
        assert_eq!(completed.refund, usd(0));
        assert_eq!(completed.platform_fee, usd(385 + 1_400));
        assert_eq!(completed.seller_earnings, usd(5_600));
        assert_eq!(completed.sum_minor(), 7_385);
        let refunded = price.full_refund_settlement();
        assert_eq!(refunded.refund, usd(7_385));
        assert_eq!(refunded.sum_minor(), 7_385);
        // A split of 30.01 back: the seller is paid 39.99 less 20% (8.00 rounded half up).
        let split = price.split_settlement(usd(3_001), 2_000);
        assert_eq!(split.refund, usd(3_001));
        assert_eq!(split.seller_earnings, usd(3_999 - 800));
        assert_eq!(split.platform_fee, usd(385 + 800));
        assert_eq!(split.sum_minor(), 7_385);
    }

    proptest! {
        #[test]
        fn settlements_always_sum_to_the_paid_amount_and_are_never_negative(
            subtotal in 1_i64..1_000_000_000_000,
            buyer_bp in 0_i64..=10_000,
            commission_bp in 0_i64..=10_000,
            small_fee in 0_i64..100_000,
            threshold in 0_i64..1_000_000,
            split_fraction in 0.0_f64..1.0,
        ) {
            let fees = FeeSchedule {
                buyer_fee_basis_points: buyer_bp,
                small_order_fee_minor: small_fee,
                small_order_threshold_minor: threshold,
                seller_commission_basis_points: commission_bp,
            };
            let price = Price::of_subtotal(usd(subtotal), &fees).expect("price");
            prop_assert_eq!(
                price.subtotal.amount_minor + price.service_fee.amount_minor,
                price.total.amount_minor
            );
            prop_assert!(price.seller_earnings.amount_minor >= 0);
            let total = i128::from(price.total.amount_minor);
            let mut settlements = vec![price.completion_settlement(), price.full_refund_settlement()];
            if subtotal > 1 {
                #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
                let refund = ((subtotal as f64 * split_fraction) as i64).clamp(1, subtotal - 1);
                settlements.push(price.split_settlement(usd(refund), commission_bp));
            }
            for settlement in settlements {
                prop_assert_eq!(settlement.sum_minor(), total);
                prop_assert!(settlement.refund.amount_minor >= 0);
                prop_assert!(settlement.platform_fee.amount_minor >= 0);
                prop_assert!(settlement.seller_earnings.amount_minor >= 0);
            }
        }
    }
}
