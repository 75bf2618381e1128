//! Events of the payment service: what it emits into its outbox (`gigmesh.payments.v1`:
//! PaymentSucceeded, PaymentFailed, RefundIssued, InvoiceIssued, FundsCleared,
//! WithdrawalSent, WithdrawalFailed) and how it follows orders' OrderChanged (records
//! placed orders, cancels payments of orders closed before payment, applies settlements
//! exactly once), auth's UserRegistered and EmailVerified (emails) and users'
//! ProfileChanged (display names) for invoices.

use async_trait::async_trait;
use gigmesh_db::{DbError, Tx};
use gigmesh_events::{Envelope, EventHandler, HandlerError, decode, enqueue};
use gigmesh_proto::auth::{EmailVerified, UserRegistered};
use gigmesh_proto::orders::{OrderChanged, OrderState, TimelineKind};
use gigmesh_proto::payments as proto;
use gigmesh_proto::types::Money as ProtoMoney;
use gigmesh_proto::users::ProfileChanged;
use gigmesh_types::{Currency, Money};

use crate::error::PaymentsError;
use crate::ledger::{Account, Transaction};
use crate::store::{
    self, Context, EarningRecord, InvoiceRecord, LineItem, OrderRecord, PaymentRecord,
    RefundRecord, WithdrawalRecord,
};
use crate::use_cases::Payments;

/// Consumer group (and inbox name) of the payment service on the orders, auth and users
/// topics.
pub const CONSUMER_NAME: &str = "payments.upstream-events";

/// Emits PaymentSucceeded, keyed by the order.
pub async fn payment_succeeded(tx: &mut Tx, payment: &PaymentRecord) -> Result<(), DbError> {
    let event = proto::PaymentSucceeded {
        order_id: payment.order_id.clone(),
        buyer_id: payment.buyer_id.clone(),
        payment_id: payment.id.clone(),
        amount: Some(ProtoMoney::from(payment.amount)),
        provider: payment.provider.clone(),
    };
    enqueue(tx, &payment.order_id, &event).await?;
    Ok(())
}

/// Emits PaymentFailed, keyed by the order.
pub async fn payment_failed(
    tx: &mut Tx,
    payment: &PaymentRecord,
    reason: &str,
) -> Result<(), DbError> {
    let event = proto::PaymentFailed {
        order_id: payment.order_id.clone(),
        buyer_id: payment.buyer_id.clone(),
        reason: reason.to_owned(),
        amount: Some(ProtoMoney::from(payment.amount)),
    };
    enqueue(tx, &payment.order_id, &event).await?;
    Ok(())
}

/// Emits RefundIssued, keyed by the order.
pub async fn refund_issued(tx: &mut Tx, refund: &RefundRecord) -> Result<(), DbError> {
    let event = proto::RefundIssued {
        order_id: refund.order_id.clone(),
        buyer_id: refund.buyer_id.clone(),
        refund_id: refund.id.clone(),
        amount: Some(ProtoMoney::from(refund.amount)),
        reason: refund.reason.clone(),
    };
    enqueue(tx, &refund.order_id, &event).await?;
    Ok(())
}

/// Emits InvoiceIssued, keyed by the order.
pub async fn invoice_issued(tx: &mut Tx, invoice: &InvoiceRecord) -> Result<(), DbError> {
    let event = proto::InvoiceIssued {
        order_id: invoice.order_id.clone(),
        number: invoice.number.clone(),
        buyer_id: invoice.buyer_id.clone(),
        seller_id: invoice.seller_id.clone(),
        total: Some(ProtoMoney::from(Money::new(
            invoice.total_minor,
            invoice.currency,
        ))),
    };
    enqueue(tx, &invoice.order_id, &event).await?;
    Ok(())
}

/// Emits FundsCleared, keyed by the seller.
pub async fn funds_cleared(
    tx: &mut Tx,
    seller_id: &str,
    order_id: &str,
    amount: Money,
) -> Result<(), DbError> {
    let event = proto::FundsCleared {
        seller_id: seller_id.to_owned(),
        order_id: order_id.to_owned(),
        amount: Some(ProtoMoney::from(amount)),
    };
    enqueue(tx, seller_id, &event).await?;
    Ok(())
}

/// Emits WithdrawalSent, keyed by the seller.
pub async fn withdrawal_sent(tx: &mut Tx, withdrawal: &WithdrawalRecord) -> Result<(), DbError> {
    let event = proto::WithdrawalSent {
        seller_id: withdrawal.seller_id.clone(),
        withdrawal_id: withdrawal.id.clone(),
        amount: Some(ProtoMoney::from(withdrawal.amount)),
    };
    enqueue(tx, &withdrawal.seller_id, &event).await?;
    Ok(())
}

/// Emits WithdrawalFailed, keyed by the seller.
pub async fn withdrawal_failed(
    tx: &mut Tx,
    withdrawal: &WithdrawalRecord,
    reason: &str,
) -> Result<(), DbError> {
    let event = proto::WithdrawalFailed {
        seller_id: withdrawal.seller_id.clone(),
        withdrawal_id: withdrawal.id.clone(),
        amount: Some(ProtoMoney::from(withdrawal.amount)),
        reason: reason.to_owned(),
    };
    enqueue(tx, &withdrawal.seller_id, &event).await?;
    Ok(())
}

/// Applies orders', auth's and users' events.
#[derive(Clone)]
pub struct UpstreamEventsHandler {
    payments: Payments,
}

impl UpstreamEventsHandler {
    /// A handler doing its work through `payments`.
    pub fn new(payments: Payments) -> Self {
        Self { payments }
    }
}

fn to_handler_error(error: PaymentsError) -> HandlerError {
    match error {
        PaymentsError::Db(error) => HandlerError::from(error),
        PaymentsError::Ledger(error) => HandlerError::permanent(error),
        other => HandlerError::transient(anyhow::Error::new(other)),
    }
}

#[async_trait]
impl EventHandler for UpstreamEventsHandler {
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError> {
        let now = self.payments.now();
        if let Some(event) = decode::<OrderChanged>(envelope) {
            return apply_order_changed(&self.payments, tx, event?, now)
                .await
                .map_err(|error| match error {
                    HandlerErrorOr::Handler(error) => error,
                    HandlerErrorOr::Payments(error) => to_handler_error(error),
                });
        }
        if let Some(event) = decode::<UserRegistered>(envelope) {
            let event = event?;
            store::upsert_user(
                tx,
                &event.user_id,
                Some(&event.username),
                Some(&event.email),
                None,
                now,
            )
            .await?;
            return Ok(());
        }
        if let Some(event) = decode::<EmailVerified>(envelope) {
            let event = event?;
            store::upsert_user(tx, &event.user_id, None, Some(&event.email), None, now).await?;
            return Ok(());
        }
        if let Some(event) = decode::<ProfileChanged>(envelope) {
            let Some(profile) = event?.profile else {
                return Err(HandlerError::permanent(anyhow::anyhow!(
                    "ProfileChanged without a profile"
                )));
            };
            store::upsert_user(
                tx,
                &profile.user_id,
                Some(&profile.username),
                None,
                Some(&profile.display_name),
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// Refunds and cancellations an order change asked for are made at once, after the
    /// change committed (the money loop retries what fails).
    async fn after_commit(&self, envelope: &Envelope) {
        if decode::<OrderChanged>(envelope).is_some()
            && let Err(error) = self.payments.money_loop_step().await
        {
            tracing::warn!(error = %error, "money loop step after an order change failed");
        }
    }
}

enum HandlerErrorOr {
    Handler(HandlerError),
    Payments(PaymentsError),
}

impl From<PaymentsError> for HandlerErrorOr {
    fn from(error: PaymentsError) -> Self {
        Self::Payments(error)
    }
}

impl From<DbError> for HandlerErrorOr {
    fn from(error: DbError) -> Self {
        Self::Handler(error.into())
    }
}

fn permanent(message: String) -> HandlerErrorOr {
    HandlerErrorOr::Handler(HandlerError::permanent(anyhow::anyhow!(message)))
}

/// The name payments keeps for an orders state.
pub fn state_name(state: OrderState) -> &'static str {
    match state {
        OrderState::Unspecified => "unspecified",
        OrderState::AwaitingPayment => "awaiting_payment",
        OrderState::RequirementsPending => "requirements_pending",
        OrderState::InProgress => "in_progress",
        OrderState::Delivered => "delivered",
        OrderState::Completed => "completed",
        OrderState::Cancelled => "cancelled",
        OrderState::Expired => "expired",
        OrderState::Disputed => "disputed",
    }
}

fn minor(money: Option<&gigmesh_proto::types::Money>) -> i64 {
    money.map_or(0, |money| money.amount_minor)
}

async fn apply_order_changed(
    payments: &Payments,
    tx: &mut Tx,
    event: OrderChanged,
    now: i64,
) -> Result<(), HandlerErrorOr> {
    let Some(order) = event.order.as_ref() else {
        return Err(permanent("OrderChanged without an order".to_owned()));
    };
    let change = TimelineKind::try_from(event.change).unwrap_or(TimelineKind::Unspecified);
    let state = OrderState::try_from(order.state).unwrap_or(OrderState::Unspecified);
    let price = order.price.clone().unwrap_or_default();
    let currency_code = price
        .total
        .as_ref()
        .map(|total| total.currency.clone())
        .unwrap_or_default();
    let Some(currency) = Currency::from_code(&currency_code) else {
        return Err(permanent(format!(
            "OrderChanged for order {} has no currency",
            order.id
        )));
    };
    let known = store::find_order(&mut **tx, &order.id).await?;
    if known.is_none() {
        let mut line_items: Vec<LineItem> = order
            .line_items
            .iter()
            .map(|item| LineItem {
                description: item.description.clone(),
                quantity: item.quantity,
                unit_price_minor: minor(item.unit_price.as_ref()),
                amount_minor: minor(item.amount.as_ref()),
            })
            .collect();
        let service_fee = minor(price.service_fee.as_ref());
        if service_fee > 0 {
            line_items.push(LineItem {
                description: "Service fee".to_owned(),
                quantity: 1,
                unit_price_minor: service_fee,
                amount_minor: service_fee,
            });
        }
        let record = OrderRecord {
            order_id: order.id.clone(),
            buyer_id: order.buyer_id.clone(),
            seller_id: order.seller_id.clone(),
            gig_title: order.gig_title.clone(),
            package_name: order.package_name.clone(),
            currency,
            subtotal_minor: minor(price.subtotal.as_ref()),
            service_fee_minor: service_fee,
            total_minor: minor(price.total.as_ref()),
            line_items,
            state: state_name(state).to_owned(),
            version: event.version,
        };
        store::insert_order(tx, &record, now).await?;
        tracing::info!(order_id = %order.id, "order recorded");
    } else {
        store::update_order_state(tx, &order.id, state_name(state), event.version, now).await?;
    }

    let closed_unpaid =
        matches!(state, OrderState::Cancelled | OrderState::Expired) && event.settlement.is_none();
    if closed_unpaid
        && let Some(payment) = store::find_payment_of_order(&mut **tx, &order.id).await?
        && payment.status != "succeeded"
        && payment.status != "canceled"
    {
        store::queue_cancellation(tx, &order.id, &payment.provider_payment_id, now).await?;
    }

    let Some(settlement) = event.settlement.as_ref() else {
        return Ok(());
    };
    let key = format!("{}:{}", order.id, event.version);
    let change_name = format!("{change:?}").to_ascii_lowercase();
    if !store::record_settlement(tx, &key, &order.id, &change_name, now).await? {
        return Ok(());
    }
    let refund = minor(settlement.refund.as_ref());
    let fee = minor(settlement.platform_fee.as_ref());
    let earnings = minor(settlement.seller_earnings.as_ref());
    if refund < 0 || fee < 0 || earnings < 0 {
        return Err(permanent(format!(
            "settlement of order {} has a negative share",
            order.id
        )));
    }
    let Some(payment) = store::find_payment_of_order(&mut **tx, &order.id).await? else {
        return Err(HandlerErrorOr::Handler(HandlerError::transient(
            anyhow::anyhow!("settlement of order {} before its payment", order.id),
        )));
    };
    if payment.status != "succeeded" {
        return Err(HandlerErrorOr::Handler(HandlerError::transient(
            anyhow::anyhow!(
                "settlement of order {} before its payment succeeded",
                order.id
            ),
        )));
    }
    let currency = payment.amount.currency;
    let balances = store::balances(&mut **tx, Some(&order.id)).await?;
    let escrow = balances.of(&Account::escrow(&order.id), currency).posted;
    let total = refund + fee + earnings;
    if total != escrow {
        return Err(permanent(format!(
            "settlement of order {} moves {total} but its escrow holds {escrow}",
            order.id
        )));
    }
    if total == 0 {
        return Ok(());
    }
    let seller_id = order.seller_id.clone();
    let transaction = Transaction::new(
        "settlement",
        currency,
        [
            (Account::escrow(&order.id), -total),
            (Account::refunds(), refund),
            (Account::platform_fees(), fee),
            (Account::seller_pending(&seller_id), earnings),
        ],
    )
    .map_err(PaymentsError::from)?;
    store::write_transaction(
        tx,
        &transaction,
        "posted",
        Context {
            order_id: Some(&order.id),
            seller_id: Some(&seller_id),
            ..Context::default()
        },
        now,
    )
    .await?;
    if refund > 0 {
        let reason = match change {
            TimelineKind::DisputeResolved => "dispute resolved",
            TimelineKind::PaymentRefused => "payment for a closed order",
            _ => "order cancelled",
        };
        store::insert_refund(
            tx,
            &RefundRecord {
                id: store::new_id(),
                order_id: order.id.clone(),
                payment_id: payment.id.clone(),
                buyer_id: payment.buyer_id.clone(),
                seller_id: seller_id.clone(),
                idempotency_key: format!("settlement-{key}"),
                provider_refund_id: None,
                amount: Money::new(refund, currency),
                reason: reason.to_owned(),
                status: "pending".to_owned(),
                attempts: 0,
                next_attempt_time: now,
                create_time: now,
            },
        )
        .await?;
    }
    if earnings > 0 {
        let clear_time = now + payments.config().clearance_period_seconds * 1000;
        let amount = Money::new(earnings, currency);
        store::insert_clearance(tx, &order.id, &seller_id, amount, clear_time).await?;
        store::insert_earning(
            tx,
            &EarningRecord {
                id: store::new_id(),
                seller_id: seller_id.clone(),
                kind: "order_earning".to_owned(),
                order_id: order.id.clone(),
                withdrawal_id: String::new(),
                amount,
                time: now,
                clear_time: Some(clear_time),
            },
        )
        .await?;
    }
    tracing::info!(order_id = %order.id, refund, fee, earnings, "settlement applied");
    Ok(())
}
