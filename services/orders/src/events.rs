//! Events of the order service: `OrderChanged` into its outbox (`gigmesh.orders.v1`), one
//! per change, in the transaction that writes the change; and how it follows the gig
//! service's `GigChanged` (orders' own copy of each gig, version-guarded), the payment
//! service's `PaymentSucceeded` (an order paid, or the payment refused and refunded) and
//! chat's `CustomOfferChanged` (an accepted custom offer placed as its order, once).

use async_trait::async_trait;
use gigmesh_db::{DbError, Tx};
use gigmesh_events::{Envelope, EventHandler, HandlerError, decode, enqueue};
use gigmesh_proto::EventMessage as _;
use gigmesh_proto::chat::{CustomOfferChange, CustomOfferChanged};
use gigmesh_proto::gigs::{self as gigs_proto, GigChanged};
use gigmesh_proto::payments::PaymentSucceeded;
use gigmesh_proto::types::Money as ProtoMoney;
use gigmesh_types::{Clock, Currency, GigId, Money, OrderId, UserId};
use uuid::Uuid;

use crate::domain::{
    Change, CustomOrder, FeeSchedule, GigExtra, GigPackage, GigSnapshot, GigState, Moderation,
    Question, QuestionKind, Tier, place_custom_order, receive_payment,
};
use crate::metrics::count_transitions;
use crate::output::order_changed;
use crate::store::{self, StoredOrder};

/// Consumer group (and inbox name) of the order service on the gigs and payments topics.
pub const CONSUMER_NAME: &str = "orders.upstream-events";

/// Writes the order after `changes` over `stored` (at the version that was read), appends
/// their timeline entries and emits one `OrderChanged` per change, keyed by the order id,
/// each at the version of its entry. Returns `false`, writing nothing, when the order moved
/// on since it was read.
pub async fn write_changes(
    tx: &mut Tx,
    stored: &StoredOrder,
    changes: &[Change],
    now: i64,
) -> Result<bool, DbError> {
    let Some(last) = changes.last() else {
        return Ok(true);
    };
    if !store::update_order(tx, &last.order, stored.version, now).await? {
        return Ok(false);
    }
    record_changes(tx, changes).await?;
    Ok(true)
}

/// Appends the entries of `changes` and emits their events (the order row is written by
/// the caller).
pub async fn record_changes(tx: &mut Tx, changes: &[Change]) -> Result<(), DbError> {
    let Some(last) = changes.last() else {
        return Ok(());
    };
    let entries: Vec<_> = changes.iter().map(|change| &change.entry).collect();
    store::insert_entries(tx, last.order.id, &entries).await?;
    for change in changes {
        let event = order_changed(change.entry.sequence, change);
        enqueue(tx, &change.order.id.to_string(), &event).await?;
    }
    Ok(())
}

/// Consumer group (and inbox name) of the order service on chat's topic. A consumer of its
/// own, so an offer waiting for its gig's snapshot (which comes on the gigs topic) never
/// holds up the gig and payment events.
pub const CUSTOM_OFFERS_CONSUMER_NAME: &str = "orders.custom-offers";

/// Applies the gig service's `GigChanged` and the payment service's `PaymentSucceeded`.
#[derive(Debug, Clone)]
pub struct UpstreamEventsHandler {
    clock: Clock,
}

impl UpstreamEventsHandler {
    /// A handler reading the time from `clock`.
    pub fn new(clock: Clock) -> Self {
        Self { clock }
    }
}

/// Places the orders of chat's accepted custom offers (`CustomOfferChanged`).
#[derive(Debug, Clone)]
pub struct CustomOffersHandler {
    clock: Clock,
    fees: FeeSchedule,
    payment_window_millis: i64,
}

impl CustomOffersHandler {
    /// A handler reading the time from `clock`, pricing the orders with `fees`; they wait
    /// `payment_window_millis` for their payment.
    pub fn new(clock: Clock, fees: FeeSchedule, payment_window_millis: i64) -> Self {
        Self {
            clock,
            fees,
            payment_window_millis,
        }
    }
}

#[async_trait]
impl EventHandler for CustomOffersHandler {
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError> {
        if let Some(event) = decode::<CustomOfferChanged>(envelope) {
            return self.place_accepted_offer(tx, event?).await;
        }
        Ok(())
    }

    /// Of chat's busy topic, only the offers.
    fn takes(&self, event_type: &str) -> bool {
        event_type == CustomOfferChanged::EVENT_TYPE
    }
}

#[async_trait]
impl EventHandler for UpstreamEventsHandler {
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError> {
        if let Some(event) = decode::<GigChanged>(envelope) {
            return apply_gig_changed(tx, event?, self.clock.now_millis()).await;
        }
        if let Some(event) = decode::<PaymentSucceeded>(envelope) {
            return apply_payment(tx, event?, self.clock.now_millis()).await;
        }
        Ok(())
    }
}

impl CustomOffersHandler {
    /// Places the order of an accepted custom offer, once (its id comes from the offer).
    async fn place_accepted_offer(
        &self,
        tx: &mut Tx,
        event: CustomOfferChanged,
    ) -> Result<(), HandlerError> {
        if event.change != CustomOfferChange::Accepted as i32 {
            return Ok(());
        }
        let Some(offer) = event.offer else {
            return Err(permanent("CustomOfferChanged without an offer".to_owned()));
        };
        let custom = CustomOrder {
            order_id: OrderId::from(parse_uuid("order id", &offer.order_id)?),
            offer_id: offer.id.clone(),
            buyer_id: UserId::from(parse_uuid("buyer id", &offer.buyer_id)?),
            seller_id: UserId::from(parse_uuid("seller id", &offer.seller_id)?),
            description: offer.description.clone(),
            price: parse_money("offer price", offer.price.as_ref())?,
            delivery_days: offer.delivery_days,
            revisions: offer.revisions,
        };
        if store::find_order(&mut **tx, custom.order_id)
            .await?
            .is_some()
        {
            tracing::debug!(order_id = %custom.order_id, "custom offer's order placed already");
            return Ok(());
        }
        let gig_id = GigId::from(parse_uuid("gig id", &offer.gig_id)?);
        let Some(gig) = store::find_gig(&mut **tx, gig_id).await? else {
            // The gig's snapshot comes on another topic; it arrives.
            return Err(HandlerError::transient(anyhow::anyhow!(
                "custom offer {} of gig {gig_id} orders does not know yet",
                offer.id
            )));
        };
        let now = self.clock.now_millis();
        let change = place_custom_order(&gig, &custom, &self.fees, now, self.payment_window_millis)
            .map_err(|refusal| {
                permanent(format!(
                    "custom offer {} cannot be placed: {refusal}",
                    offer.id
                ))
            })?;
        store::insert_order(tx, &change.order, now).await?;
        let changes = [change];
        record_changes(tx, &changes).await?;
        count_transitions(&changes);
        tracing::info!(order_id = %custom.order_id, offer_id = %offer.id, "custom offer's order placed");
        Ok(())
    }
}

/// Keeps the gig's snapshot unless a newer one is kept already.
async fn apply_gig_changed(tx: &mut Tx, event: GigChanged, now: i64) -> Result<(), HandlerError> {
    let Some(gig) = event.gig else {
        return Err(permanent("GigChanged without a gig".to_owned()));
    };
    let snapshot = gig_snapshot(gig)?;
    let written = store::write_gig(tx, &snapshot, event.version, now).await?;
    if !written {
        tracing::debug!(gig_id = %snapshot.id, version = event.version, "older gig snapshot ignored");
    }
    Ok(())
}

/// Pays the order, or refuses the payment with a refund; the payment that paid the order
/// (or one refused before) changes nothing.
async fn apply_payment(tx: &mut Tx, event: PaymentSucceeded, now: i64) -> Result<(), HandlerError> {
    let order_id = OrderId::from(parse_uuid("order id", &event.order_id)?);
    let amount = parse_money("amount", event.amount.as_ref())?;
    if event.payment_id.trim().is_empty() {
        return Err(permanent(format!(
            "PaymentSucceeded for order {order_id} without a payment id"
        )));
    }
    let Some(stored) = store::find_order(&mut **tx, order_id).await? else {
        return Err(permanent(format!(
            "PaymentSucceeded for unknown order {order_id}"
        )));
    };
    let changes = receive_payment(&stored.order, &event.payment_id, amount, now);
    if changes.is_empty() {
        tracing::debug!(order_id = %order_id, "payment already applied");
        return Ok(());
    }
    if !write_changes(tx, &stored, &changes, now).await? {
        return Err(HandlerError::transient(anyhow::anyhow!(
            "order {order_id} changed concurrently"
        )));
    }
    count_transitions(&changes);
    tracing::info!(
        order_id = %order_id,
        state = changes[changes.len() - 1].order.state().as_str(),
        "payment applied"
    );
    Ok(())
}

/// Orders' copy of a gig from its snapshot in `GigChanged`.
fn gig_snapshot(gig: gigs_proto::Gig) -> Result<GigSnapshot, HandlerError> {
    let state = match gigs_proto::GigState::try_from(gig.state) {
        Ok(gigs_proto::GigState::Draft) => GigState::Draft,
        Ok(gigs_proto::GigState::Active) => GigState::Active,
        Ok(gigs_proto::GigState::Paused) => GigState::Paused,
        Ok(gigs_proto::GigState::Deleted) => GigState::Deleted,
        _ => return Err(permanent(format!("gig {} has no known state", gig.id))),
    };
    let moderation = match gigs_proto::ModerationState::try_from(gig.moderation_state) {
        Ok(gigs_proto::ModerationState::Approved) => Moderation::Approved,
        Ok(gigs_proto::ModerationState::Rejected) => Moderation::Rejected,
        Ok(gigs_proto::ModerationState::Suspended) => Moderation::Suspended,
        Ok(gigs_proto::ModerationState::Pending) => Moderation::Pending,
        _ => {
            return Err(permanent(format!(
                "gig {} has no known moderation state",
                gig.id
            )));
        }
    };
    let packages = gig
        .packages
        .iter()
        .map(|package| {
            let tier = match gigs_proto::PackageTier::try_from(package.tier) {
                Ok(gigs_proto::PackageTier::Basic) => Tier::Basic,
                Ok(gigs_proto::PackageTier::Standard) => Tier::Standard,
                Ok(gigs_proto::PackageTier::Premium) => Tier::Premium,
                _ => {
                    return Err(permanent(format!(
                        "gig {} has a package without a tier",
                        gig.id
                    )));
                }
            };
            Ok(GigPackage {
                tier,
                name: package.name.clone(),
                price: parse_money("package price", package.price.as_ref())?,
                delivery_days: package.delivery_days,
                revisions: package.revisions,
            })
        })
        .collect::<Result<Vec<_>, HandlerError>>()?;
    let extras = gig
        .extras
        .iter()
        .map(|extra| {
            Ok(GigExtra {
                id: extra.id.clone(),
                title: extra.title.clone(),
                price: parse_money("extra price", extra.price.as_ref())?,
                extra_days: extra.extra_days,
            })
        })
        .collect::<Result<Vec<_>, HandlerError>>()?;
    let requirements = gig
        .requirements
        .iter()
        .map(|requirement| {
            let kind = match gigs_proto::RequirementKind::try_from(requirement.kind) {
                Ok(gigs_proto::RequirementKind::Text) => QuestionKind::Text,
                Ok(gigs_proto::RequirementKind::MultipleChoice) => QuestionKind::MultipleChoice,
                Ok(gigs_proto::RequirementKind::Attachment) => QuestionKind::Attachment,
                _ => {
                    return Err(permanent(format!(
                        "gig {} has a requirement of no known kind",
                        gig.id
                    )));
                }
            };
            Ok(Question {
                question: requirement.question.clone(),
                kind,
                options: requirement.options.clone(),
                required: requirement.required,
            })
        })
        .collect::<Result<Vec<_>, HandlerError>>()?;
    Ok(GigSnapshot {
        id: GigId::from(parse_uuid("gig id", &gig.id)?),
        seller_id: UserId::from(parse_uuid("seller id", &gig.seller_id)?),
        title: gig.title,
        state,
        moderation,
        packages,
        extras,
        requirements,
    })
}

fn parse_money(what: &str, money: Option<&ProtoMoney>) -> Result<Money, HandlerError> {
    let Some(money) = money else {
        return Err(permanent(format!("{what} is missing")));
    };
    let currency = Currency::from_code(&money.currency).ok_or_else(|| {
        permanent(format!(
            "{what} has an unknown currency {:?}",
            money.currency
        ))
    })?;
    Ok(Money::new(money.amount_minor, currency))
}

fn parse_uuid(what: &str, raw: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(raw).map_err(|error| permanent(format!("invalid {what} {raw:?}: {error}")))
}

fn permanent(message: String) -> HandlerError {
    HandlerError::permanent(anyhow::anyhow!(message))
}
