//! Placing an order: the buyer's choice of a package and extras, priced and timed from
//! orders' copy of the gig (never from the request), checked against what the gig offers.

use gigmesh_errors::{ApiError, Violations, echoed_prefix};
use gigmesh_types::{OrderId, UserId};

use super::gig::{GigSnapshot, Tier};
use super::order::{Change, LineItem, Order, OrderProgress, OrderState, OrderTerms, TimelineKind};
use super::price::{FeeSchedule, Price};
use super::recorder::{Acting, EntryDetails, Recorder};
use crate::error::OrdersError;

/// Most of one extra in an order.
pub const MAX_EXTRA_QUANTITY: i32 = 10;
/// Most extras in an order.
pub const MAX_EXTRAS: usize = 10;
/// Longest request id.
pub const MAX_REQUEST_ID_CHARS: usize = 64;

/// One extra the buyer adds, as parsed from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraChoice {
    /// The gig's id of the extra.
    pub extra_id: String,
    /// How many, 1 to [`MAX_EXTRA_QUANTITY`].
    pub quantity: i32,
}

/// What the buyer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChoice {
    /// The package tier.
    pub tier: Tier,
    /// The extras, each at most once.
    pub extras: Vec<ExtraChoice>,
    /// The client's id of the request.
    pub request_id: String,
}

/// A new order of `gig` by `buyer_id`, awaiting payment until `now + payment_window_millis`,
/// with its PLACED change. Refused when the gig cannot be ordered (paused, deleted, not
/// approved, the buyer's own) or does not offer the chosen tier or an extra.
pub fn place_order(
    gig: &GigSnapshot,
    buyer_id: UserId,
    choice: &OrderChoice,
    fees: &FeeSchedule,
    now: i64,
    payment_window_millis: i64,
) -> Result<Change, OrdersError> {
    gig.ensure_orderable_by(buyer_id)?;
    let mut violations = Violations::new();
    let package = gig.package(choice.tier);
    if package.is_none() {
        let offered: Vec<&str> = gig
            .packages
            .iter()
            .map(|package| package.tier.as_str())
            .collect();
        violations.add(
            "tier",
            format!(
                "the gig has no {} package; it offers {}",
                choice.tier.as_str(),
                offered.join(", ")
            ),
        );
    }
    let mut extras = Vec::new();
    for (index, extra_choice) in choice.extras.iter().enumerate() {
        match gig.extra(&extra_choice.extra_id) {
            Some(extra) => extras.push((extra, extra_choice.quantity)),
            None => violations.add(
                format!("extras[{index}].extra_id"),
                format!(
                    "the gig has no extra {:?}",
                    echoed_prefix(&extra_choice.extra_id)
                ),
            ),
        }
    }
    violations.finish()?;
    let Some(package) = package else {
        return Err(OrdersError::Internal(anyhow::anyhow!(
            "checked package missing"
        )));
    };

    let overflow = || OrdersError::Api(ApiError::invalid("extras", "the order's price overflows"));
    let mut line_items = vec![LineItem {
        description: package.name.clone(),
        extra_id: None,
        quantity: 1,
        unit_price: package.price,
        amount: package.price,
        extra_days: 0,
    }];
    let mut subtotal = package.price;
    let mut delivery_days = package.delivery_days;
    for (extra, quantity) in extras {
        let amount = extra
            .price
            .checked_mul(i64::from(quantity))
            .map_err(|_| overflow())?;
        subtotal = subtotal
            .checked_add(amount)
            .map_err(|error| OrdersError::Internal(error.into()))?;
        delivery_days = delivery_days.saturating_add(extra.extra_days.saturating_mul(quantity));
        line_items.push(LineItem {
            description: extra.title.clone(),
            extra_id: Some(extra.id.clone()),
            quantity,
            unit_price: extra.price,
            amount,
            extra_days: extra.extra_days,
        });
    }
    let price = Price::of_subtotal(subtotal, fees).ok_or_else(overflow)?;
    let order = Order {
        id: OrderId::new(),
        buyer_id,
        seller_id: gig.seller_id,
        gig_id: gig.id,
        request_id: choice.request_id.clone(),
        create_time: now,
        terms: OrderTerms {
            gig_title: gig.title.clone(),
            tier: choice.tier,
            package_name: package.name.clone(),
            line_items,
            price,
            revisions_included: package.revisions,
            requirements: gig.requirements.clone(),
        },
        progress: OrderProgress {
            state: OrderState::AwaitingPayment,
            late: false,
            delivery_days,
            revisions_used: 0,
            answers: Vec::new(),
            payment_deadline: Some(now.saturating_add(payment_window_millis)),
            paid_time: None,
            start_time: None,
            due_time: None,
            delivered_time: None,
            auto_complete_time: None,
            close_time: None,
            pending_extension: None,
            pending_cancellation: None,
            refunded: None,
            seller_paid: None,
            payment_id: None,
            refused_payment_ids: Vec::new(),
            disputed: false,
            timeline_length: 0,
        },
    };
    let mut recorder = Recorder::new(order, Acting::buyer(buyer_id, now));
    recorder.record(
        TimelineKind::Placed,
        OrderState::AwaitingPayment,
        EntryDetails::default(),
        None,
    );
    recorder
        .into_changes()
        .pop()
        .ok_or_else(|| OrdersError::Internal(anyhow::anyhow!("placing recorded no change")))
}
