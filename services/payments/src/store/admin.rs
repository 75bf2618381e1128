//! What admins read: payments and refunds by order, buyer or seller, and the audit log.

use gigmesh_db::{DbError, Tx};
use gigmesh_types::Money;
use sqlx::Row as _;
use sqlx::any::AnyExecutor;

use super::Cursor;
use super::money_of;

/// Which payments an admin lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentFilter {
    Order(String),
    Buyer(String),
    Seller(String),
}

/// One payment or refund for admins: (kind, time, id, record fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyRecord {
    pub id: String,
    pub kind: &'static str,
    pub order_id: String,
    pub buyer_id: String,
    pub seller_id: String,
    pub amount: Money,
    pub provider_id: String,
    pub status: String,
    pub reason: String,
    pub time: i64,
}

/// Payments and refunds matching `filter`, newest first.
pub async fn money_records<'c>(
    executor: impl AnyExecutor<'c>,
    filter: &PaymentFilter,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Result<Vec<MoneyRecord>, DbError> {
    let (column, value) = match filter {
        PaymentFilter::Order(id) => ("order_id", id),
        PaymentFilter::Buyer(id) => ("buyer_id", id),
        PaymentFilter::Seller(id) => ("seller_id", id),
    };
    let (time, id) = cursor
        .cloned()
        .unwrap_or((i64::MAX, "\u{10FFFF}".to_owned()));
    let sql = format!(
        "SELECT * FROM ( \
             SELECT id, 'payment' AS kind, order_id, buyer_id, seller_id, amount_minor, currency, \
                    provider_payment_id AS provider_id, status, '' AS reason, create_time AS time \
             FROM payments WHERE {column} = $1 \
             UNION ALL \
             SELECT id, 'refund' AS kind, order_id, buyer_id, seller_id, amount_minor, currency, \
                    COALESCE(provider_refund_id, '') AS provider_id, status, reason, create_time AS time \
             FROM refunds WHERE {column} = $1 \
         ) records WHERE time < $2 OR (time = $2 AND id < $3) \
         ORDER BY time DESC, id DESC LIMIT $4"
    );
    let rows = sqlx::query(&sql)
        .bind(value.clone())
        .bind(time)
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("kind")?;
            Ok(MoneyRecord {
                id: row.try_get("id")?,
                kind: if kind == "payment" {
                    "payment"
                } else {
                    "refund"
                },
                order_id: row.try_get("order_id")?,
                buyer_id: row.try_get("buyer_id")?,
                seller_id: row.try_get("seller_id")?,
                amount: money_of(row, "amount_minor")?,
                provider_id: row.try_get("provider_id")?,
                status: row.try_get("status")?,
                reason: row.try_get("reason")?,
                time: row.try_get("time")?,
            })
        })
        .collect()
}

/// One admin action on the money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: String,
    pub actor_user_id: String,
    pub action: String,
    pub order_id: String,
    pub amount: Money,
    pub reason: String,
    pub time: i64,
}

/// Records an admin action.
pub async fn insert_audit(tx: &mut Tx, entry: &AuditRecord) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO audit_log (id, actor_user_id, action, order_id, currency, amount_minor, \
             reason, time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&entry.id)
    .bind(&entry.actor_user_id)
    .bind(&entry.action)
    .bind(&entry.order_id)
    .bind(entry.amount.currency.code())
    .bind(entry.amount.amount_minor)
    .bind(&entry.reason)
    .bind(entry.time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The audit log, newest first.
pub async fn audit_log<'c>(
    executor: impl AnyExecutor<'c>,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Result<Vec<AuditRecord>, DbError> {
    let (time, id) = cursor
        .cloned()
        .unwrap_or((i64::MAX, "\u{10FFFF}".to_owned()));
    let rows = sqlx::query(
        "SELECT id, actor_user_id, action, order_id, currency, amount_minor, reason, time \
         FROM audit_log WHERE time < $1 OR (time = $1 AND id < $2) \
         ORDER BY time DESC, id DESC LIMIT $3",
    )
    .bind(time)
    .bind(id)
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(AuditRecord {
                id: row.try_get("id")?,
                actor_user_id: row.try_get("actor_user_id")?,
                action: row.try_get("action")?,
                order_id: row.try_get("order_id")?,
                amount: money_of(row, "amount_minor")?,
                reason: row.try_get("reason")?,
                time: row.try_get("time")?,
            })
        })
        .collect()
}
