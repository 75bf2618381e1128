//! Placing an order: the buyer's choice of a package and extras, priced and timed from
//! orders' copy of the gig (never from the request), checked against what the gig offers.

use gigmesh_errors::{ApiError, Violations, echoed_prefix};
use gigmesh_types::{Money, OrderId, UserId};

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
            tier: Some(choice.tier),
            package_name: package.name.clone(),
            line_items,
            price,
            revisions_included: package.revisions,
            requirements: gig.requirements.clone(),
            custom_offer_id: None,
        },
        progress: awaiting_payment(delivery_days, now, payment_window_millis),
    };
    record_placed(order, buyer_id, now)
}

/// A custom offer a buyer accepted in a conversation, as chat's `CustomOfferChanged`
/// carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomOrder {
    /// The order's id, chosen by chat when the buyer accepted.
    pub order_id: OrderId,
    /// The offer's id.
    pub offer_id: String,
    /// The buyer who accepted.
    pub buyer_id: UserId,
    /// The seller who offered.
    pub seller_id: UserId,
    /// What the seller will do.
    pub description: String,
    /// The price of the work (the buyer's service fee comes on top).
    pub price: Money,
    /// Days to deliver.
    pub delivery_days: i32,
    /// Revisions included.
    pub revisions: i32,
}

/// The package name of a custom offer's order.
pub const CUSTOM_OFFER_PACKAGE: &str = "Custom offer";

/// A new order of `gig` from an accepted custom offer, at the offer's price, days and
/// revisions, awaiting payment, with its PLACED change. The seller's offer binds them, so
/// only the parties are checked (the gig's seller made it, the buyer is someone else), not
/// whether the gig is still active.
pub fn place_custom_order(
    gig: &GigSnapshot,
    offer: &CustomOrder,
    fees: &FeeSchedule,
    now: i64,
    payment_window_millis: i64,
) -> Result<Change, OrdersError> {
    if offer.seller_id != gig.seller_id {
        return Err(OrdersError::GigUnavailable(format!(
            "the offer's seller does not sell gig {}",
            gig.id
        )));
    }
    if offer.buyer_id == gig.seller_id {
        return Err(OrdersError::OwnGig);
    }
    let price = Price::of_subtotal(offer.price, fees).ok_or_else(|| {
        OrdersError::Api(ApiError::invalid("price", "the order's price overflows"))
    })?;
    let order = Order {
        id: offer.order_id,
        buyer_id: offer.buyer_id,
        seller_id: gig.seller_id,
        gig_id: gig.id,
        request_id: format!("offer:{}", offer.offer_id),
        create_time: now,
        terms: OrderTerms {
            gig_title: gig.title.clone(),
            tier: None,
            package_name: CUSTOM_OFFER_PACKAGE.to_owned(),
            line_items: vec![LineItem {
                description: offer.description.clone(),
                extra_id: None,
                quantity: 1,
                unit_price: offer.price,
                amount: offer.price,
                extra_days: 0,
            }],
            price,
            revisions_included: offer.revisions,
            requirements: gig.requirements.clone(),
            custom_offer_id: Some(offer.offer_id.clone()),
        },
        progress: awaiting_payment(offer.delivery_days, now, payment_window_millis),
    };
    record_placed(order, offer.buyer_id, now)
}

/// Where a new order starts: awaiting its payment until the window closes.
fn awaiting_payment(delivery_days: i32, now: i64, payment_window_millis: i64) -> OrderProgress {
    OrderProgress {
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
    }
}

/// The PLACED change of a new order, by its buyer.
fn record_placed(order: Order, buyer_id: UserId, now: i64) -> Result<Change, OrdersError> {
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
