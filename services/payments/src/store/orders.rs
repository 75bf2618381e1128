//! Orders as payments knows them (from orders' events): parties, line items, price, state.

use gigmesh_db::{DbError, Tx};
use gigmesh_types::{Currency, Money};
use serde::{Deserialize, Serialize};
use sqlx::Row as _;
use sqlx::any::{AnyExecutor, AnyRow};

use super::currency_of;

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
