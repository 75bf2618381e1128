//! Refunds made through the provider and cancellations of provider payments: queued in the
//! transaction that decides them, made after it commits, retried until done.

use gigmesh_db::{DbError, Tx};
use gigmesh_types::Money;
use sqlx::Row as _;
use sqlx::any::{AnyExecutor, AnyRow};

use super::money_of;

/// A refund to make (or made) through the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    pub id: String,
    pub order_id: String,
    pub payment_id: String,
    pub buyer_id: String,
    pub seller_id: String,
    pub idempotency_key: String,
    pub provider_refund_id: Option<String>,
    pub amount: Money,
    pub reason: String,
    /// `pending` or `succeeded`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_time: i64,
    pub create_time: i64,
}

const REFUND_COLUMNS: &str = "id, order_id, payment_id, buyer_id, seller_id, idempotency_key, \
     provider_refund_id, amount_minor, currency, reason, status, attempts, next_attempt_time, \
     create_time";

fn refund_from_row(row: &AnyRow) -> Result<RefundRecord, DbError> {
    Ok(RefundRecord {
        id: row.try_get("id")?,
        order_id: row.try_get("order_id")?,
        payment_id: row.try_get("payment_id")?,
        buyer_id: row.try_get("buyer_id")?,
        seller_id: row.try_get("seller_id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        provider_refund_id: row.try_get("provider_refund_id")?,
        amount: money_of(row, "amount_minor")?,
        reason: row.try_get("reason")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        next_attempt_time: row.try_get("next_attempt_time")?,
        create_time: row.try_get("create_time")?,
    })
}

/// Records a refund to make.
pub async fn insert_refund(tx: &mut Tx, refund: &RefundRecord) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO refunds (id, order_id, payment_id, buyer_id, seller_id, idempotency_key, \
             provider_refund_id, amount_minor, currency, reason, status, attempts, \
             next_attempt_time, create_time) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9, 'pending', 0, $10, $10)",
    )
    .bind(&refund.id)
    .bind(&refund.order_id)
    .bind(&refund.payment_id)
    .bind(&refund.buyer_id)
    .bind(&refund.seller_id)
    .bind(&refund.idempotency_key)
    .bind(refund.amount.amount_minor)
    .bind(refund.amount.currency.code())
    .bind(&refund.reason)
    .bind(refund.create_time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The refund made under an idempotency key.
pub async fn find_refund_by_key<'c>(
    executor: impl AnyExecutor<'c>,
    key: &str,
) -> Result<Option<RefundRecord>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {REFUND_COLUMNS} FROM refunds WHERE idempotency_key = $1"
    ))
    .bind(key.to_owned())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(refund_from_row).transpose()
}

/// Refunds still to make at the provider, due at `now`.
pub async fn due_refunds<'c>(
    executor: impl AnyExecutor<'c>,
    now: i64,
) -> Result<Vec<RefundRecord>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {REFUND_COLUMNS} FROM refunds WHERE status = 'pending' AND next_attempt_time <= $1 \
         ORDER BY create_time, id LIMIT 100"
    ))
    .bind(now)
    .fetch_all(executor)
    .await?;
    rows.iter().map(refund_from_row).collect()
}

/// Claims a due refund for one attempt, until `lease_until`.
pub async fn claim_refund<'c>(
    executor: impl AnyExecutor<'c>,
    refund: &RefundRecord,
    lease_until: i64,
) -> Result<bool, DbError> {
    let claimed = sqlx::query(
        "UPDATE refunds SET next_attempt_time = $1, attempts = attempts + 1 \
         WHERE id = $2 AND status = 'pending' AND next_attempt_time = $3",
    )
    .bind(lease_until)
    .bind(refund.id.clone())
    .bind(refund.next_attempt_time)
    .execute(executor)
    .await?
    .rows_affected();
    Ok(claimed == 1)
}

/// Marks a refund made; `false` when it was already.
pub async fn complete_refund(
    tx: &mut Tx,
    refund_id: &str,
    provider_refund_id: &str,
) -> Result<bool, DbError> {
    let updated = sqlx::query(
        "UPDATE refunds SET status = 'succeeded', provider_refund_id = $1 \
         WHERE id = $2 AND status = 'pending'",
    )
    .bind(provider_refund_id)
    .bind(refund_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// What was (or is being) refunded of an order's payment.
pub async fn refunded_total<'c>(
    executor: impl AnyExecutor<'c>,
    order_id: &str,
) -> Result<i64, DbError> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS total FROM refunds \
         WHERE order_id = $1",
    )
    .bind(order_id.to_owned())
    .fetch_one(executor)
    .await?;
    Ok(row.try_get("total")?)
}

/// Queues the cancellation of an order's provider payment.
pub async fn queue_cancellation(
    tx: &mut Tx,
    order_id: &str,
    provider_payment_id: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO cancellations (order_id, provider_payment_id, done, attempts, next_attempt_time) \
         VALUES ($1, $2, $3, 0, $4) ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order_id)
    .bind(provider_payment_id)
    .bind(false)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Cancellations due: (order id, provider payment id, next attempt time).
pub async fn due_cancellations<'c>(
    executor: impl AnyExecutor<'c>,
    now: i64,
) -> Result<Vec<(String, String, i64)>, DbError> {
    let rows = sqlx::query(
        "SELECT order_id, provider_payment_id, next_attempt_time FROM cancellations \
         WHERE done = $1 AND next_attempt_time <= $2 LIMIT 100",
    )
    .bind(false)
    .bind(now)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("order_id")?,
                row.try_get("provider_payment_id")?,
                row.try_get("next_attempt_time")?,
            ))
        })
        .collect()
}

/// Claims, finishes or postpones a cancellation.
pub async fn update_cancellation<'c>(
    executor: impl AnyExecutor<'c>,
    order_id: &str,
    expected_time: i64,
    next_attempt_time: i64,
    done: bool,
) -> Result<bool, DbError> {
    let updated = sqlx::query(
        "UPDATE cancellations SET next_attempt_time = $1, done = $2, attempts = attempts + 1 \
         WHERE order_id = $3 AND next_attempt_time = $4 AND done = $5",
    )
    .bind(next_attempt_time)
    .bind(done)
    .bind(order_id.to_owned())
    .bind(expected_time)
    .bind(false)
    .execute(executor)
    .await?
    .rows_affected();
    Ok(updated == 1)
}
