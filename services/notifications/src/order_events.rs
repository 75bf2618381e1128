//! How the notification service applies orders', payments' and users' events: every step
//! of an order and of its money mails the party it concerns (`order_mails.rs`,
//! `payment_mails.rs`), and users' `ProfileChanged` keeps the display name to greet them by.
//!
//! Addresses come from auth's events, which the other consumer keeps (`events.rs`). An
//! event for a user whose address has not arrived yet fails with
//! [`NotificationsError::RecipientUnknown`], a transient error: the consumer retries it
//! with growing pauses (100 ms doubling up to 10 s) for `order_events_max_attempts`
//! attempts (30 by default, about four minutes), so an order event that overtakes its
//! users' `UserRegistered` on the other topic waits for it instead of losing its mail.
//! While it waits, this consumer reads nothing else; after the last attempt the event is
//! dead-lettered, its error naming the user and their part in the event. Every recipient of
//! an event is looked up before the first of its mails is sent, so a missing address never
//! sends one side's mail twice.
//!
//! Delivery is at least once, as for auth's mails (`events.rs`): each mail is handed to the
//! transport before the transaction with the inbox row and its `sent_mail` row commits, so a
//! crash in between, or a second mail of the same event failing, sends a mail again when
//! the event is retried. A redelivered event is skipped by the inbox and, within the
//! transaction, a mail already recorded for the event and recipient is not sent again.

use std::sync::Arc;

use async_trait::async_trait;
use gigmesh_db::Tx;
use gigmesh_events::{Envelope, EventHandler, HandlerError, decode};
use gigmesh_proto::EventMessage;
use gigmesh_proto::orders::{Actor, DisputeResolution, OrderChanged, TimelineKind};
use gigmesh_proto::payments::{
    FundsCleared, InvoiceIssued, PaymentFailed, PaymentSucceeded, RefundIssued, WithdrawalFailed,
    WithdrawalSent,
};
use gigmesh_proto::types::Money as ProtoMoney;
use gigmesh_proto::users::ProfileChanged;
use gigmesh_types::{Currency, Money, OrderId, UserId, millis_from_timestamp, now_millis};
use lettre::message::Mailbox;
use tracing::instrument;

use crate::domain::WebApp;
use crate::error::NotificationsError;
use crate::events::{malformed, occur_millis, parse_user_id, send_once};
use crate::mailer::Mailer;
use crate::notice::Recipient;
use crate::order_mails::{OrderFacts, OrderStep, Resolution, Side, order_notice, sides_to_tell};
use crate::payment_mails::{PaymentStep, payment_notice};
use crate::store;

/// Consumer group (and inbox name) of the notification service on orders', payments' and
/// users' topics.
pub const ORDER_EVENTS_CONSUMER_NAME: &str = "notifications.order-events";

/// The topics [`OrderEventsHandler`] reads.
pub const ORDER_EVENTS_TOPICS: [&str; 3] = [
    gigmesh_proto::orders::TOPIC,
    gigmesh_proto::payments::TOPIC,
    gigmesh_proto::users::TOPIC,
];

/// Sends the mails of orders' and payments' events; keeps display names from users'.
pub struct OrderEventsHandler {
    mailer: Arc<dyn Mailer>,
    sender: Mailbox,
    web_app: WebApp,
}

impl OrderEventsHandler {
    /// A handler sending through `mailer` from `sender`, with links into `web_app`.
    pub fn new(mailer: Arc<dyn Mailer>, sender: Mailbox, web_app: WebApp) -> Self {
        Self {
            mailer,
            sender,
            web_app,
        }
    }

    async fn apply(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), NotificationsError> {
        if let Some(event) = decode::<ProfileChanged>(envelope) {
            let event = event.map_err(malformed::<ProfileChanged>)?;
            return keep_profile_names(tx, envelope, event).await;
        }
        if let Some(event) = decode::<OrderChanged>(envelope) {
            let event = event.map_err(malformed::<OrderChanged>)?;
            let Some((order, step)) = parse_order_changed(event)? else {
                return Ok(());
            };
            return self.mail_order_step(tx, envelope, &order, &step).await;
        }
        if let Some((step, event_type)) = parse_payment_event(envelope)? {
            return self
                .mail_payment_step(tx, envelope, &step, event_type)
                .await;
        }
        Ok(())
    }

    #[instrument(skip_all, fields(order_id = %order.order_id))]
    async fn mail_order_step(
        &self,
        tx: &mut Tx,
        envelope: &Envelope,
        order: &OrderFacts,
        step: &OrderStep,
    ) -> Result<(), NotificationsError> {
        let mut mails = Vec::new();
        for side in sides_to_tell(step, order) {
            let recipient = known_recipient(
                tx,
                OrderChanged::EVENT_TYPE,
                order.user(side),
                side.as_str(),
            )
            .await?;
            mails.push(order_notice(&self.web_app, step, order, side).into_mail(recipient));
        }
        for mail in mails {
            send_once(
                tx,
                self.mailer.as_ref(),
                &self.sender,
                &envelope.event_id,
                mail,
            )
            .await?;
        }
        Ok(())
    }

    #[instrument(skip_all, fields(event_type = event_type))]
    async fn mail_payment_step(
        &self,
        tx: &mut Tx,
        envelope: &Envelope,
        step: &PaymentStep,
        event_type: &'static str,
    ) -> Result<(), NotificationsError> {
        let (user_id, party) = step.recipient();
        let recipient = known_recipient(tx, event_type, user_id, party).await?;
        let mail = payment_notice(&self.web_app, step).into_mail(recipient);
        send_once(
            tx,
            self.mailer.as_ref(),
            &self.sender,
            &envelope.event_id,
            mail,
        )
        .await
    }
}

#[async_trait]
impl EventHandler for OrderEventsHandler {
    /// Failures are retried or dead-lettered as [`NotificationsError`] says; a recipient
    /// without an address yet is retried.
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError> {
        Ok(self.apply(tx, envelope).await?)
    }
}

/// The address and name of `user_id`, or [`NotificationsError::RecipientUnknown`] while
/// auth's event with their address has not been applied.
async fn known_recipient(
    tx: &mut Tx,
    event_type: &'static str,
    user_id: UserId,
    party: &'static str,
) -> Result<Recipient, NotificationsError> {
    let user_id = user_id.to_string();
    match store::recipient(tx, &user_id).await? {
        Some(recipient) => Ok(recipient),
        None => Err(NotificationsError::RecipientUnknown {
            event_type,
            user_id,
            party,
        }),
    }
}

/// Keeps the names of a changed profile.
async fn keep_profile_names(
    tx: &mut Tx,
    envelope: &Envelope,
    event: ProfileChanged,
) -> Result<(), NotificationsError> {
    let profile = event
        .profile
        .ok_or_else(|| malformed::<ProfileChanged>("it has no profile"))?;
    let user_id = parse_user_id::<ProfileChanged>("profile.user_id", &profile.user_id)?;
    store::keep_profile_names(
        tx,
        &user_id.to_string(),
        &profile.username,
        &profile.display_name,
        occur_millis(envelope),
        now_millis(),
    )
    .await?;
    Ok(())
}

/// The order and the step of an `OrderChanged`, or `None` for the steps that mail nobody
/// (placed, started, accepted: the completion follows; a refused payment: the refund mail
/// tells the buyer).
fn parse_order_changed(
    event: OrderChanged,
) -> Result<Option<(OrderFacts, OrderStep)>, NotificationsError> {
    let change = event.change();
    let order = event
        .order
        .as_ref()
        .ok_or_else(|| malformed::<OrderChanged>("it has no order"))?;
    let entry = event.entry.clone().unwrap_or_default();
    let settlement = event.settlement.clone().unwrap_or_default();
    let by = side_of(entry.actor());
    let by_itself = entry.actor() == Actor::System;
    let settled_refund = match settlement.refund.as_ref() {
        Some(refund) => order_money("settlement.refund", Some(refund))?,
        None => order_money("entry.refund", entry.refund.as_ref())?,
    };
    let settled_earnings = order_money(
        "settlement.seller_earnings",
        settlement.seller_earnings.as_ref(),
    )?;
    let step = match change {
        TimelineKind::Paid => OrderStep::Paid,
        TimelineKind::RequirementsSubmitted => OrderStep::RequirementsSubmitted,
        TimelineKind::Delivered => OrderStep::Delivered {
            message: entry.message,
            attachment_count: entry.attachment_urls.len(),
        },
        TimelineKind::RevisionRequested => OrderStep::RevisionRequested {
            message: entry.message,
        },
        TimelineKind::ExtensionRequested => OrderStep::ExtensionRequested {
            days: entry.days,
            reason: entry.message,
        },
        TimelineKind::ExtensionAccepted => OrderStep::ExtensionAccepted {
            days: entry.days,
            by_itself,
        },
        TimelineKind::ExtensionDeclined => OrderStep::ExtensionDeclined,
        TimelineKind::Late => OrderStep::Late,
        TimelineKind::CancellationRequested => OrderStep::CancellationRequested {
            by,
            reason: entry.message,
        },
        TimelineKind::CancellationDeclined => OrderStep::CancellationDeclined { by },
        TimelineKind::Cancelled => OrderStep::Cancelled {
            reason: entry.message,
            refund: settled_refund,
        },
        TimelineKind::Expired => OrderStep::Expired,
        TimelineKind::DisputeOpened => OrderStep::DisputeOpened {
            by,
            reason: entry.message,
        },
        TimelineKind::DisputeResolved => OrderStep::DisputeResolved {
            resolution: resolution_of(entry.resolution()),
            refund: settled_refund,
            seller_earnings: settled_earnings,
            note: entry.message,
        },
        TimelineKind::Completed => OrderStep::Completed {
            seller_earnings: settled_earnings,
            by_itself,
        },
        TimelineKind::Unspecified
        | TimelineKind::Placed
        | TimelineKind::Started
        | TimelineKind::Accepted
        | TimelineKind::PaymentRefused => return Ok(None),
    };
    let pending_request = match change {
        TimelineKind::ExtensionRequested => order.pending_extension.as_ref(),
        TimelineKind::CancellationRequested => order.pending_cancellation.as_ref(),
        _ => None,
    };
    let price = order.price.clone().unwrap_or_default();
    let facts = OrderFacts {
        order_id: OrderId::parse("order.id", &order.id).map_err(malformed::<OrderChanged>)?,
        buyer_id: parse_user_id::<OrderChanged>("order.buyer_id", &order.buyer_id)?,
        seller_id: parse_user_id::<OrderChanged>("order.seller_id", &order.seller_id)?,
        gig_title: order.gig_title.clone(),
        package_name: order.package_name.clone(),
        total: order_money("order.price.total", price.total.as_ref())?,
        seller_earnings: order_money(
            "order.price.seller_earnings",
            price.seller_earnings.as_ref(),
        )?,
        due_at_millis: order.due_time.as_ref().map(millis_from_timestamp),
        auto_complete_at_millis: order.auto_complete_time.as_ref().map(millis_from_timestamp),
        answer_deadline_millis: pending_request
            .and_then(|request| request.answer_deadline.as_ref())
            .map(millis_from_timestamp),
        paid: order.paid_time.is_some(),
    };
    Ok(Some((facts, step)))
}

fn side_of(actor: Actor) -> Option<Side> {
    match actor {
        Actor::Buyer => Some(Side::Buyer),
        Actor::Seller => Some(Side::Seller),
        Actor::Unspecified | Actor::Admin | Actor::System => None,
    }
}

fn resolution_of(resolution: DisputeResolution) -> Option<Resolution> {
    match resolution {
        DisputeResolution::Release => Some(Resolution::Release),
        DisputeResolution::Refund => Some(Resolution::Refund),
        DisputeResolution::Split => Some(Resolution::Split),
        DisputeResolution::Unspecified => None,
    }
}

/// An amount of an `OrderChanged`: `None` when absent (or an empty message), malformed
/// when its currency is not one.
fn order_money(
    field: &str,
    money: Option<&ProtoMoney>,
) -> Result<Option<Money>, NotificationsError> {
    parse_money::<OrderChanged>(field, money)
}

fn parse_money<E: EventMessage>(
    field: &str,
    money: Option<&ProtoMoney>,
) -> Result<Option<Money>, NotificationsError> {
    let Some(money) = money else {
        return Ok(None);
    };
    if money.currency.is_empty() && money.amount_minor == 0 {
        return Ok(None);
    }
    let currency = Currency::parse(field, &money.currency).map_err(malformed::<E>)?;
    Ok(Some(Money::new(money.amount_minor, currency)))
}

fn required_money<E: EventMessage>(
    field: &str,
    money: Option<&ProtoMoney>,
) -> Result<Money, NotificationsError> {
    parse_money::<E>(field, money)?.ok_or_else(|| malformed::<E>(format!("{field}: is required")))
}

fn parse_order_id<E: EventMessage>(raw: &str) -> Result<OrderId, NotificationsError> {
    OrderId::parse("order_id", raw).map_err(malformed::<E>)
}

/// The step of a payments event that mails someone, with the event's type, or `None` for
/// other events.
fn parse_payment_event(
    envelope: &Envelope,
) -> Result<Option<(PaymentStep, &'static str)>, NotificationsError> {
    if let Some(event) = decode::<PaymentSucceeded>(envelope) {
        type E = PaymentSucceeded;
        let event = event.map_err(malformed::<E>)?;
        let step = PaymentStep::Succeeded {
            order_id: parse_order_id::<E>(&event.order_id)?,
            buyer_id: parse_user_id::<E>("buyer_id", &event.buyer_id)?,
            payment_id: event.payment_id,
            amount: required_money::<E>("amount", event.amount.as_ref())?,
        };
        return Ok(Some((step, E::EVENT_TYPE)));
    }
    if let Some(event) = decode::<PaymentFailed>(envelope) {
        type E = PaymentFailed;
        let event = event.map_err(malformed::<E>)?;
        let step = PaymentStep::Failed {
            order_id: parse_order_id::<E>(&event.order_id)?,
            buyer_id: parse_user_id::<E>("buyer_id", &event.buyer_id)?,
            reason: event.reason,
            amount: parse_money::<E>("amount", event.amount.as_ref())?,
        };
        return Ok(Some((step, E::EVENT_TYPE)));
    }
    if let Some(event) = decode::<RefundIssued>(envelope) {
        type E = RefundIssued;
        let event = event.map_err(malformed::<E>)?;
        let step = PaymentStep::Refunded {
            order_id: parse_order_id::<E>(&event.order_id)?,
            buyer_id: parse_user_id::<E>("buyer_id", &event.buyer_id)?,
            amount: required_money::<E>("amount", event.amount.as_ref())?,
            reason: event.reason,
        };
        return Ok(Some((step, E::EVENT_TYPE)));
    }
    if let Some(event) = decode::<InvoiceIssued>(envelope) {
        type E = InvoiceIssued;
        let event = event.map_err(malformed::<E>)?;
        let step = PaymentStep::Invoiced {
            order_id: parse_order_id::<E>(&event.order_id)?,
            buyer_id: parse_user_id::<E>("buyer_id", &event.buyer_id)?,
            number: event.number,
            total: required_money::<E>("total", event.total.as_ref())?,
        };
        return Ok(Some((step, E::EVENT_TYPE)));
    }
    if let Some(event) = decode::<FundsCleared>(envelope) {
        type E = FundsCleared;
        let event = event.map_err(malformed::<E>)?;
        let step = PaymentStep::FundsCleared {
            order_id: parse_order_id::<E>(&event.order_id)?,
            seller_id: parse_user_id::<E>("seller_id", &event.seller_id)?,
            amount: required_money::<E>("amount", event.amount.as_ref())?,
        };
        return Ok(Some((step, E::EVENT_TYPE)));
    }
    if let Some(event) = decode::<WithdrawalSent>(envelope) {
        type E = WithdrawalSent;
        let event = event.map_err(malformed::<E>)?;
        let step = PaymentStep::WithdrawalSent {
            seller_id: parse_user_id::<E>("seller_id", &event.seller_id)?,
            withdrawal_id: event.withdrawal_id,
            amount: required_money::<E>("amount", event.amount.as_ref())?,
        };
        return Ok(Some((step, E::EVENT_TYPE)));
    }
    if let Some(event) = decode::<WithdrawalFailed>(envelope) {
        type E = WithdrawalFailed;
        let event = event.map_err(malformed::<E>)?;
        let step = PaymentStep::WithdrawalFailed {
            seller_id: parse_user_id::<E>("seller_id", &event.seller_id)?,
            withdrawal_id: event.withdrawal_id,
            amount: required_money::<E>("amount", event.amount.as_ref())?,
            reason: event.reason,
        };
        return Ok(Some((step, E::EVENT_TYPE)));
    }
    Ok(None)
}
