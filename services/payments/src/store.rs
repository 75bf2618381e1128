//! The payment service's SQL: orders as payments knows them, payments, refunds,
//! cancellations, webhook events seen, settlements applied, the ledger's journal and
//! balances, clearances, earnings, payout accounts, withdrawals, users' names, invoices
//! with their per-year counters, and the audit log. Portable SQL on either backend; money
//! in BIGINT minor units, times in BIGINT milliseconds.

use gigmesh_db::{Backend, DbError, Tx, get_bool};
use gigmesh_types::{Currency, Money};
use serde::{Deserialize, Serialize};
use sqlx::Row as _;
use sqlx::any::{AnyExecutor, AnyRow};
use uuid::Uuid;

use crate::ledger::{Account, AccountKind, Balance, Balances, Transaction};

/// A new UUIDv7 id as text.
pub fn new_id() -> String {
    Uuid::now_v7().to_string()
}

fn currency_of(raw: &str) -> Result<Currency, DbError> {
    Currency::from_code(raw).ok_or_else(|| {
        DbError::Other(sqlx::Error::Decode(
            format!("unknown currency {raw:?} in the database").into(),
        ))
    })
}

fn money_of(row: &AnyRow, amount: &str) -> Result<Money, DbError> {
    let currency: String = row.try_get("currency")?;
    Ok(Money::new(row.try_get(amount)?, currency_of(&currency)?))
}

/// `FOR UPDATE` on PostgreSQL (SQLite's write transactions lock the whole database).
pub fn lock(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    }
}

/// One line of an order's price, as kept for its invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// What it is.
    pub description: String,
    /// How many.
    pub quantity: i32,
    /// Price of one, minor units.
    pub unit_price_minor: i64,
    /// unit price times quantity, minor units.
    pub amount_minor: i64,
}

/// An order as payments knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub order_id: String,
    pub buyer_id: String,
    pub seller_id: String,
    pub gig_title: String,
    pub package_name: String,
    pub currency: Currency,
    pub subtotal_minor: i64,
    pub service_fee_minor: i64,
    pub total_minor: i64,
    pub line_items: Vec<LineItem>,
    /// Orders' state name: `awaiting_payment`, `in_progress`, `completed`, `cancelled`…
    pub state: String,
    pub version: i64,
}

impl OrderRecord {
    /// What the buyer pays.
    pub fn total(&self) -> Money {
        Money::new(self.total_minor, self.currency)
    }

    /// Whether the order closed (nothing more is paid for it).
    pub fn is_closed(&self) -> bool {
        matches!(self.state.as_str(), "completed" | "cancelled" | "expired")
    }
}

const ORDER_COLUMNS: &str = "order_id, buyer_id, seller_id, gig_title, package_name, currency, \
     subtotal_minor, service_fee_minor, total_minor, line_items, state, version";

fn order_from_row(row: &AnyRow) -> Result<OrderRecord, DbError> {
    let currency: String = row.try_get("currency")?;
    let line_items: String = row.try_get("line_items")?;
    Ok(OrderRecord {
        order_id: row.try_get("order_id")?,
        buyer_id: row.try_get("buyer_id")?,
        seller_id: row.try_get("seller_id")?,
        gig_title: row.try_get("gig_title")?,
        package_name: row.try_get("package_name")?,
        currency: currency_of(&currency)?,
        subtotal_minor: row.try_get("subtotal_minor")?,
        service_fee_minor: row.try_get("service_fee_minor")?,
        total_minor: row.try_get("total_minor")?,
        line_items: serde_json::from_str(&line_items)
            .map_err(|error| DbError::Other(sqlx::Error::Decode(error.into())))?,
        state: row.try_get("state")?,
        version: row.try_get("version")?,
    })
}

/// The order with this id.
pub async fn find_order<'c>(
    executor: impl AnyExecutor<'c>,
    order_id: &str,
) -> Result<Option<OrderRecord>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = $1"
    ))
    .bind(order_id.to_owned())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(order_from_row).transpose()
}

/// Records an order the first time it is seen.
pub async fn insert_order(tx: &mut Tx, order: &OrderRecord, now: i64) -> Result<(), DbError> {
    let line_items = serde_json::to_string(&order.line_items)
        .map_err(|error| DbError::Other(sqlx::Error::Encode(error.into())))?;
    sqlx::query(
        "INSERT INTO orders (order_id, buyer_id, seller_id, gig_title, package_name, currency, \
             subtotal_minor, service_fee_minor, total_minor, line_items, state, version, \
             create_time, update_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
    )
    .bind(&order.order_id)
    .bind(&order.buyer_id)
    .bind(&order.seller_id)
    .bind(&order.gig_title)
    .bind(&order.package_name)
    .bind(order.currency.code())
    .bind(order.subtotal_minor)
    .bind(order.service_fee_minor)
    .bind(order.total_minor)
    .bind(line_items)
    .bind(&order.state)
    .bind(order.version)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves an order's state forward (older versions are ignored).
pub async fn update_order_state(
    tx: &mut Tx,
    order_id: &str,
    state: &str,
    version: i64,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE orders SET state = $1, version = $2, update_time = $3 \
         WHERE order_id = $4 AND version < $2",
    )
    .bind(state)
    .bind(version)
    .bind(now)
    .bind(order_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

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

/// Context of a ledger transaction, for the journal's readers.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    pub order_id: Option<&'a str>,
    pub seller_id: Option<&'a str>,
    pub withdrawal_id: Option<&'a str>,
    pub pending_id: Option<&'a str>,
}

/// Writes a balanced transaction (`posted` or `pending`); answers its id. The legs were
/// checked when the transaction was made, and are checked again here.
pub async fn write_transaction(
    tx: &mut Tx,
    transaction: &Transaction,
    state: &str,
    context: Context<'_>,
    now: i64,
) -> Result<String, crate::error::PaymentsError> {
    transaction.check()?;
    let id = new_id();
    sqlx::query(
        "INSERT INTO ledger_transactions (id, kind, currency, state, pending_id, order_id, \
             seller_id, withdrawal_id, create_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(transaction.kind)
    .bind(transaction.currency.code())
    .bind(state)
    .bind(context.pending_id)
    .bind(context.order_id)
    .bind(context.seller_id)
    .bind(context.withdrawal_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    for (leg_number, leg) in transaction.legs.iter().enumerate() {
        sqlx::query(
            "INSERT INTO ledger_entries (transaction_id, leg, account, account_kind, owner, \
                 currency, amount_minor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(i64::try_from(leg_number).unwrap_or(i64::MAX))
        .bind(leg.account.key())
        .bind(leg.account.kind.as_str())
        .bind(&leg.account.owner)
        .bind(transaction.currency.code())
        .bind(leg.amount_minor)
        .execute(&mut **tx)
        .await?;
    }
    Ok(id)
}

/// Reads a pending transaction back (for posting or voiding it).
pub async fn pending_transaction(
    tx: &mut Tx,
    id: &str,
) -> Result<Option<Transaction>, crate::error::PaymentsError> {
    let Some(header) = sqlx::query(
        "SELECT kind, currency FROM ledger_transactions WHERE id = $1 AND state = 'pending'",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(None);
    };
    let kind: String = header.try_get("kind")?;
    let currency: String = header.try_get("currency")?;
    let rows = sqlx::query(
        "SELECT account_kind, owner, amount_minor FROM ledger_entries \
         WHERE transaction_id = $1 ORDER BY leg",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    let mut legs = Vec::new();
    for row in rows {
        let kind_name: String = row.try_get("account_kind")?;
        let account_kind = AccountKind::parse(&kind_name)
            .ok_or_else(|| anyhow::anyhow!("unknown account kind {kind_name:?}"))?;
        legs.push((
            Account {
                kind: account_kind,
                owner: row.try_get("owner")?,
            },
            row.try_get::<i64, _>("amount_minor")?,
        ));
    }
    let kind: &'static str = match kind.as_str() {
        "withdrawal" => "withdrawal",
        other => return Err(anyhow::anyhow!("transaction kind {other:?} is not held").into()),
    };
    Ok(Some(Transaction::new(kind, currency_of(&currency)?, legs)?))
}

/// Ends a pending transaction: `settled` (posted) or `voided`. `false` when it was not
/// pending any more.
pub async fn end_pending(tx: &mut Tx, id: &str, state: &str) -> Result<bool, DbError> {
    let updated = sqlx::query(
        "UPDATE ledger_transactions SET state = $1 WHERE id = $2 AND state = 'pending'",
    )
    .bind(state)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Balances of every account, or of one owner's accounts.
pub async fn balances<'c>(
    executor: impl AnyExecutor<'c>,
    owner: Option<&str>,
) -> Result<Balances, DbError> {
    let filter = if owner.is_some() {
        "AND e.owner = $1"
    } else {
        ""
    };
    let sql = format!(
        "SELECT e.account_kind, e.owner, e.currency, t.state, \
                CAST(SUM(CASE WHEN e.amount_minor < 0 THEN -e.amount_minor ELSE 0 END) AS BIGINT) AS debits, \
                CAST(SUM(CASE WHEN e.amount_minor > 0 THEN e.amount_minor ELSE 0 END) AS BIGINT) AS credits \
         FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id \
         WHERE t.state IN ('posted', 'pending') {filter} \
         GROUP BY e.account_kind, e.owner, e.currency, t.state"
    );
    let mut query = sqlx::query(&sql);
    if let Some(owner) = owner {
        query = query.bind(owner.to_owned());
    }
    let rows = query.fetch_all(executor).await?;
    let mut balances = Balances::default();
    for row in rows {
        let kind_name: String = row.try_get("account_kind")?;
        let Some(kind) = AccountKind::parse(&kind_name) else {
            continue;
        };
        let currency: String = row.try_get("currency")?;
        let account = Account {
            kind,
            owner: row.try_get("owner")?,
        };
        let debits: i64 = row.try_get("debits")?;
        let credits: i64 = row.try_get("credits")?;
        let state: String = row.try_get("state")?;
        let balance = balances
            .accounts
            .entry((account, currency_of(&currency)?))
            .or_insert_with(Balance::default);
        if state == "posted" {
            balance.posted += credits - debits;
        } else {
            balance.pending_debits += debits;
            balance.pending_credits += credits;
        }
    }
    Ok(balances)
}

/// Transactions whose legs do not sum to zero (there should be none).
pub async fn unbalanced_transactions<'c>(
    executor: impl AnyExecutor<'c>,
) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query(
        "SELECT transaction_id FROM ledger_entries GROUP BY transaction_id \
         HAVING SUM(amount_minor) <> 0",
    )
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| row.try_get("transaction_id").map_err(DbError::from))
        .collect()
}

/// Ids of closed orders.
pub async fn closed_orders<'c>(executor: impl AnyExecutor<'c>) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query(
        "SELECT order_id FROM orders WHERE state IN ('completed', 'cancelled', 'expired')",
    )
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| row.try_get("order_id").map_err(DbError::from))
        .collect()
}

/// Per seller and currency: cleared earnings, and what was paid out.
pub async fn seller_totals<'c>(
    executor: impl AnyExecutor<'c>,
) -> Result<Vec<(String, Currency, i64, i64)>, DbError> {
    let rows = sqlx::query(
        "SELECT seller_id, currency, \
                CAST(SUM(CASE WHEN kind = 'cleared' THEN amount_minor ELSE 0 END) AS BIGINT) AS cleared, \
                CAST(SUM(CASE WHEN kind = 'withdrawal' THEN amount_minor ELSE 0 END) AS BIGINT) AS paid_out \
         FROM earnings GROUP BY seller_id, currency",
    )
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            let currency: String = row.try_get("currency")?;
            Ok((
                row.try_get("seller_id")?,
                currency_of(&currency)?,
                row.try_get("cleared")?,
                row.try_get("paid_out")?,
            ))
        })
        .collect()
}

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

/// Earnings waiting for their clearance.
pub async fn insert_clearance(
    tx: &mut Tx,
    order_id: &str,
    seller_id: &str,
    amount: Money,
    clear_time: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO clearances (order_id, seller_id, currency, amount_minor, clear_time, cleared) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(order_id)
    .bind(seller_id)
    .bind(amount.currency.code())
    .bind(amount.amount_minor)
    .bind(clear_time)
    .bind(false)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Clearances due at `now`: (order id, seller id, amount).
pub async fn due_clearances<'c>(
    executor: impl AnyExecutor<'c>,
    now: i64,
) -> Result<Vec<(String, String, Money)>, DbError> {
    let rows = sqlx::query(
        "SELECT order_id, seller_id, currency, amount_minor FROM clearances \
         WHERE cleared = $1 AND clear_time <= $2 ORDER BY clear_time LIMIT 100",
    )
    .bind(false)
    .bind(now)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("order_id")?,
                row.try_get("seller_id")?,
                money_of(row, "amount_minor")?,
            ))
        })
        .collect()
}

/// Claims a clearance; `false` when another replica cleared it.
pub async fn claim_clearance(tx: &mut Tx, order_id: &str) -> Result<bool, DbError> {
    let updated =
        sqlx::query("UPDATE clearances SET cleared = $1 WHERE order_id = $2 AND cleared = $3")
            .bind(true)
            .bind(order_id)
            .bind(false)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    Ok(updated == 1)
}

/// One change of a seller's balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarningRecord {
    pub id: String,
    pub seller_id: String,
    /// `order_earning`, `cleared`, `withdrawal`, `withdrawal_returned`.
    pub kind: String,
    pub order_id: String,
    pub withdrawal_id: String,
    pub amount: Money,
    pub time: i64,
    pub clear_time: Option<i64>,
}

/// Records a change of a seller's balance.
pub async fn insert_earning(tx: &mut Tx, earning: &EarningRecord) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO earnings (id, seller_id, kind, order_id, withdrawal_id, currency, \
             amount_minor, time, clear_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&earning.id)
    .bind(&earning.seller_id)
    .bind(&earning.kind)
    .bind(&earning.order_id)
    .bind(&earning.withdrawal_id)
    .bind(earning.amount.currency.code())
    .bind(earning.amount.amount_minor)
    .bind(earning.time)
    .bind(earning.clear_time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A position in a newest-first list: (time, id).
pub type Cursor = (i64, String);

/// A seller's earnings, newest first, after `cursor`.
pub async fn earnings_of<'c>(
    executor: impl AnyExecutor<'c>,
    seller_id: &str,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Result<Vec<EarningRecord>, DbError> {
    let (time, id) = cursor
        .cloned()
        .unwrap_or((i64::MAX, "\u{10FFFF}".to_owned()));
    let rows = sqlx::query(
        "SELECT id, seller_id, kind, order_id, withdrawal_id, currency, amount_minor, time, \
                clear_time \
         FROM earnings WHERE seller_id = $1 AND (time < $2 OR (time = $2 AND id < $3)) \
         ORDER BY time DESC, id DESC LIMIT $4",
    )
    .bind(seller_id.to_owned())
    .bind(time)
    .bind(id)
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(EarningRecord {
                id: row.try_get("id")?,
                seller_id: row.try_get("seller_id")?,
                kind: row.try_get("kind")?,
                order_id: row.try_get("order_id")?,
                withdrawal_id: row.try_get("withdrawal_id")?,
                amount: money_of(row, "amount_minor")?,
                time: row.try_get("time")?,
                clear_time: row.try_get("clear_time")?,
            })
        })
        .collect()
}

/// A seller's payout account: (account id, transfers enabled).
pub async fn payout_account<'c>(
    executor: impl AnyExecutor<'c>,
    seller_id: &str,
    backend: Option<Backend>,
) -> Result<Option<(String, bool)>, DbError> {
    let sql = format!(
        "SELECT account_id, transfers_enabled FROM payout_accounts WHERE seller_id = $1{}",
        backend.map(lock).unwrap_or("")
    );
    let row = sqlx::query(&sql)
        .bind(seller_id.to_owned())
        .fetch_optional(executor)
        .await?;
    row.map(|row| {
        Ok((
            row.try_get("account_id")?,
            get_bool(&row, "transfers_enabled")?,
        ))
    })
    .transpose()
}

/// Keeps a seller's payout account.
pub async fn upsert_payout_account<'c>(
    executor: impl AnyExecutor<'c>,
    seller_id: &str,
    account_id: &str,
    transfers_enabled: bool,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO payout_accounts (seller_id, account_id, transfers_enabled, create_time) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (seller_id) DO UPDATE SET transfers_enabled = excluded.transfers_enabled",
    )
    .bind(seller_id.to_owned())
    .bind(account_id.to_owned())
    .bind(transfers_enabled)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}

/// A withdrawal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalRecord {
    pub id: String,
    pub seller_id: String,
    pub request_id: String,
    pub amount: Money,
    /// `pending`, `sent`, `failed`.
    pub status: String,
    pub transfer_id: Option<String>,
    pub failure_message: Option<String>,
    pub pending_transaction_id: String,
    pub create_time: i64,
}

const WITHDRAWAL_COLUMNS: &str = "id, seller_id, request_id, currency, amount_minor, status, \
     transfer_id, failure_message, pending_transaction_id, create_time";

fn withdrawal_from_row(row: &AnyRow) -> Result<WithdrawalRecord, DbError> {
    Ok(WithdrawalRecord {
        id: row.try_get("id")?,
        seller_id: row.try_get("seller_id")?,
        request_id: row.try_get("request_id")?,
        amount: money_of(row, "amount_minor")?,
        status: row.try_get("status")?,
        transfer_id: row.try_get("transfer_id")?,
        failure_message: row.try_get("failure_message")?,
        pending_transaction_id: row.try_get("pending_transaction_id")?,
        create_time: row.try_get("create_time")?,
    })
}

/// Records a withdrawal.
pub async fn insert_withdrawal(tx: &mut Tx, withdrawal: &WithdrawalRecord) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO withdrawals (id, seller_id, request_id, currency, amount_minor, status, \
             transfer_id, failure_message, pending_transaction_id, create_time) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, $7, $8)",
    )
    .bind(&withdrawal.id)
    .bind(&withdrawal.seller_id)
    .bind(&withdrawal.request_id)
    .bind(withdrawal.amount.currency.code())
    .bind(withdrawal.amount.amount_minor)
    .bind(&withdrawal.status)
    .bind(&withdrawal.pending_transaction_id)
    .bind(withdrawal.create_time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A seller's withdrawal by request id.
pub async fn find_withdrawal_by_request<'c>(
    executor: impl AnyExecutor<'c>,
    seller_id: &str,
    request_id: &str,
) -> Result<Option<WithdrawalRecord>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE seller_id = $1 AND request_id = $2"
    ))
    .bind(seller_id.to_owned())
    .bind(request_id.to_owned())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(withdrawal_from_row).transpose()
}

/// Pending withdrawals (their transfer is retried).
pub async fn pending_withdrawals<'c>(
    executor: impl AnyExecutor<'c>,
) -> Result<Vec<WithdrawalRecord>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE status = 'pending' \
         ORDER BY create_time LIMIT 100"
    ))
    .fetch_all(executor)
    .await?;
    rows.iter().map(withdrawal_from_row).collect()
}

/// Ends a pending withdrawal; `false` when it was not pending any more.
pub async fn finish_withdrawal(
    tx: &mut Tx,
    id: &str,
    status: &str,
    transfer_id: Option<&str>,
    failure_message: Option<&str>,
) -> Result<bool, DbError> {
    let updated = sqlx::query(
        "UPDATE withdrawals SET status = $1, transfer_id = $2, failure_message = $3 \
         WHERE id = $4 AND status = 'pending'",
    )
    .bind(status)
    .bind(transfer_id)
    .bind(failure_message)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// A seller's withdrawals, newest first.
pub async fn withdrawals_of<'c>(
    executor: impl AnyExecutor<'c>,
    seller_id: &str,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Result<Vec<WithdrawalRecord>, DbError> {
    let (time, id) = cursor
        .cloned()
        .unwrap_or((i64::MAX, "\u{10FFFF}".to_owned()));
    let rows = sqlx::query(&format!(
        "SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals \
         WHERE seller_id = $1 AND (create_time < $2 OR (create_time = $2 AND id < $3)) \
         ORDER BY create_time DESC, id DESC LIMIT $4"
    ))
    .bind(seller_id.to_owned())
    .bind(time)
    .bind(id)
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await?;
    rows.iter().map(withdrawal_from_row).collect()
}

/// What was paid out to a seller, per currency.
pub async fn paid_out<'c>(
    executor: impl AnyExecutor<'c>,
    seller_id: &str,
) -> Result<Vec<Money>, DbError> {
    let rows = sqlx::query(
        "SELECT currency, CAST(SUM(amount_minor) AS BIGINT) AS total FROM withdrawals \
         WHERE seller_id = $1 AND status = 'sent' GROUP BY currency",
    )
    .bind(seller_id.to_owned())
    .fetch_all(executor)
    .await?;
    rows.iter().map(|row| money_of(row, "total")).collect()
}

/// A user's name and email as payments knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRecord {
    pub username: String,
    pub email: String,
    pub display_name: String,
}

impl UserRecord {
    /// The name an invoice shows.
    pub fn name(&self) -> String {
        if self.display_name.is_empty() {
            self.username.clone()
        } else {
            self.display_name.clone()
        }
    }
}

/// The user, if known.
pub async fn find_user<'c>(
    executor: impl AnyExecutor<'c>,
    user_id: &str,
) -> Result<Option<UserRecord>, DbError> {
    let row = sqlx::query("SELECT username, email, display_name FROM users WHERE user_id = $1")
        .bind(user_id.to_owned())
        .fetch_optional(executor)
        .await?;
    row.map(|row| {
        Ok(UserRecord {
            username: row.try_get("username")?,
            email: row.try_get("email")?,
            display_name: row.try_get("display_name")?,
        })
    })
    .transpose()
}

/// Keeps a user's fields: each `Some` replaces the stored value.
pub async fn upsert_user(
    tx: &mut Tx,
    user_id: &str,
    username: Option<&str>,
    email: Option<&str>,
    display_name: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    let existing = find_user(&mut **tx, user_id).await?.unwrap_or_default();
    let user = UserRecord {
        username: username.map_or(existing.username, str::to_owned),
        email: email.map_or(existing.email, str::to_owned),
        display_name: display_name.map_or(existing.display_name, str::to_owned),
    };
    sqlx::query(
        "INSERT INTO users (user_id, username, email, display_name, update_time) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (user_id) DO UPDATE SET username = excluded.username, \
             email = excluded.email, display_name = excluded.display_name, \
             update_time = excluded.update_time",
    )
    .bind(user_id)
    .bind(user.username)
    .bind(user.email)
    .bind(user.display_name)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The next invoice number of `year` (1 for the first), counted in the transaction: one
/// upsert of the year's counter row, so concurrent issuers queue on the row and no number
/// is skipped or used twice.
pub async fn next_invoice_number(tx: &mut Tx, year: i64) -> Result<i64, DbError> {
    let row = sqlx::query(
        "INSERT INTO invoice_counters (year, last_number) VALUES ($1, 1) \
         ON CONFLICT (year) DO UPDATE SET last_number = invoice_counters.last_number + 1 \
         RETURNING last_number",
    )
    .bind(year)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("last_number")?)
}

/// An issued invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRecord {
    pub id: String,
    pub order_id: String,
    pub number: String,
    pub issue_time: i64,
    pub buyer_id: String,
    pub buyer: UserRecord,
    pub seller_id: String,
    pub seller: UserRecord,
    pub lines: Vec<LineItem>,
    pub currency: Currency,
    pub subtotal_minor: i64,
    pub service_fee_minor: i64,
    pub total_minor: i64,
}

/// Records an invoice.
pub async fn insert_invoice(tx: &mut Tx, invoice: &InvoiceRecord) -> Result<(), DbError> {
    let lines = serde_json::to_string(&invoice.lines)
        .map_err(|error| DbError::Other(sqlx::Error::Encode(error.into())))?;
    sqlx::query(
        "INSERT INTO invoices (id, order_id, number, issue_time, buyer_id, buyer_name, \
             buyer_email, seller_id, seller_name, seller_email, lines, currency, \
             subtotal_minor, service_fee_minor, total_minor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&invoice.id)
    .bind(&invoice.order_id)
    .bind(&invoice.number)
    .bind(invoice.issue_time)
    .bind(&invoice.buyer_id)
    .bind(invoice.buyer.name())
    .bind(&invoice.buyer.email)
    .bind(&invoice.seller_id)
    .bind(invoice.seller.name())
    .bind(&invoice.seller.email)
    .bind(lines)
    .bind(invoice.currency.code())
    .bind(invoice.subtotal_minor)
    .bind(invoice.service_fee_minor)
    .bind(invoice.total_minor)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The invoice of an order.
pub async fn find_invoice<'c>(
    executor: impl AnyExecutor<'c>,
    order_id: &str,
) -> Result<Option<InvoiceRecord>, DbError> {
    let row = sqlx::query(
        "SELECT id, order_id, number, issue_time, buyer_id, buyer_name, buyer_email, seller_id, \
                seller_name, seller_email, lines, currency, subtotal_minor, service_fee_minor, \
                total_minor \
         FROM invoices WHERE order_id = $1",
    )
    .bind(order_id.to_owned())
    .fetch_optional(executor)
    .await?;
    row.map(|row| {
        let lines: String = row.try_get("lines")?;
        let currency: String = row.try_get("currency")?;
        Ok(InvoiceRecord {
            id: row.try_get("id")?,
            order_id: row.try_get("order_id")?,
            number: row.try_get("number")?,
            issue_time: row.try_get("issue_time")?,
            buyer_id: row.try_get("buyer_id")?,
            buyer: UserRecord {
                display_name: row.try_get("buyer_name")?,
                email: row.try_get("buyer_email")?,
                username: String::new(),
            },
            seller_id: row.try_get("seller_id")?,
            seller: UserRecord {
                display_name: row.try_get("seller_name")?,
                email: row.try_get("seller_email")?,
                username: String::new(),
            },
            lines: serde_json::from_str(&lines)
                .map_err(|error| DbError::Other(sqlx::Error::Decode(error.into())))?,
            currency: currency_of(&currency)?,
            subtotal_minor: row.try_get("subtotal_minor")?,
            service_fee_minor: row.try_get("service_fee_minor")?,
            total_minor: row.try_get("total_minor")?,
        })
    })
    .transpose()
}

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
