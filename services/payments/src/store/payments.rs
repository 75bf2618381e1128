//! Payments of orders at the provider, the webhook events already seen, and the settlements
//! already applied.

use gigmesh_db::{Backend, DbError, Tx};
use gigmesh_types::Money;
use sqlx::Row as _;
use sqlx::any::{AnyExecutor, AnyRow};

use super::{lock, money_of};

/// A payment of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub id: String,
    pub order_id: String,
    pub buyer_id: String,
    pub seller_id: String,
    pub provider: String,
    pub provider_payment_id: String,
    pub client_secret: String,
    pub amount: Money,
    /// The provider's status name (`requires_payment_method`, `succeeded`…).
    pub status: String,
    pub last_error: Option<String>,
    pub charge_id: Option<String>,
    pub refunded_minor: i64,
    pub create_time: i64,
    pub paid_time: Option<i64>,
}

const PAYMENT_COLUMNS: &str = "id, order_id, buyer_id, seller_id, provider, provider_payment_id, \
     client_secret, amount_minor, currency, status, last_error, charge_id, refunded_minor, \
     create_time, paid_time";

fn payment_from_row(row: &AnyRow) -> Result<PaymentRecord, DbError> {
    Ok(PaymentRecord {
        id: row.try_get("id")?,
        order_id: row.try_get("order_id")?,
        buyer_id: row.try_get("buyer_id")?,
        seller_id: row.try_get("seller_id")?,
        provider: row.try_get("provider")?,
        provider_payment_id: row.try_get("provider_payment_id")?,
        client_secret: row.try_get("client_secret")?,
        amount: money_of(row, "amount_minor")?,
        status: row.try_get("status")?,
        last_error: row.try_get("last_error")?,
        charge_id: row.try_get("charge_id")?,
        refunded_minor: row.try_get("refunded_minor")?,
        create_time: row.try_get("create_time")?,
        paid_time: row.try_get("paid_time")?,
    })
}

/// The payment of an order.
pub async fn find_payment_of_order<'c>(
    executor: impl AnyExecutor<'c>,
    order_id: &str,
) -> Result<Option<PaymentRecord>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE order_id = $1"
    ))
    .bind(order_id.to_owned())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(payment_from_row).transpose()
}

/// The payment with this provider id, locked for the transaction.
pub async fn lock_payment_by_provider_id(
    tx: &mut Tx,
    backend: Backend,
    provider_payment_id: &str,
) -> Result<Option<PaymentRecord>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE provider_payment_id = $1{}",
        lock(backend)
    ))
    .bind(provider_payment_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(payment_from_row).transpose()
}

/// Records a new payment.
pub async fn insert_payment(tx: &mut Tx, payment: &PaymentRecord) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO payments (id, order_id, buyer_id, seller_id, provider, provider_payment_id, \
             client_secret, amount_minor, currency, status, last_error, charge_id, \
             refunded_minor, create_time, update_time, paid_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, $13, NULL)",
    )
    .bind(&payment.id)
    .bind(&payment.order_id)
    .bind(&payment.buyer_id)
    .bind(&payment.seller_id)
    .bind(&payment.provider)
    .bind(&payment.provider_payment_id)
    .bind(&payment.client_secret)
    .bind(payment.amount.amount_minor)
    .bind(payment.amount.currency.code())
    .bind(&payment.status)
    .bind(payment.last_error.as_deref())
    .bind(payment.charge_id.as_deref())
    .bind(payment.create_time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes a payment's status, error, charge and paid time.
pub async fn update_payment(tx: &mut Tx, payment: &PaymentRecord, now: i64) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE payments SET status = $1, last_error = $2, charge_id = $3, paid_time = $4, \
             refunded_minor = $5, update_time = $6 \
         WHERE id = $7",
    )
    .bind(&payment.status)
    .bind(payment.last_error.as_deref())
    .bind(payment.charge_id.as_deref())
    .bind(payment.paid_time)
    .bind(payment.refunded_minor)
    .bind(now)
    .bind(&payment.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a webhook event id; `false` when it was seen before.
pub async fn record_webhook_event(
    tx: &mut Tx,
    event_id: &str,
    event_type: &str,
    now: i64,
) -> Result<bool, DbError> {
    let inserted = sqlx::query(
        "INSERT INTO webhook_events (event_id, event_type, receive_time) VALUES ($1, $2, $3) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(event_type)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Whether a webhook event id was seen.
pub async fn webhook_event_seen<'c>(
    executor: impl AnyExecutor<'c>,
    event_id: &str,
) -> Result<bool, DbError> {
    Ok(
        sqlx::query("SELECT 1 AS seen FROM webhook_events WHERE event_id = $1")
            .bind(event_id.to_owned())
            .fetch_optional(executor)
            .await?
            .is_some(),
    )
}

/// Records a settlement as applied; `false` when it was applied before.
pub async fn record_settlement(
    tx: &mut Tx,
    key: &str,
    order_id: &str,
    change: &str,
    now: i64,
) -> Result<bool, DbError> {
    let inserted = sqlx::query(
        "INSERT INTO settlements (settlement_key, order_id, change_kind, apply_time) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (settlement_key) DO NOTHING",
    )
    .bind(key)
    .bind(order_id)
    .bind(change)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}
