//! Users' names and emails for invoices, the gap-free invoice number per year, and invoices.

use gigmesh_db::{DbError, Tx};
use gigmesh_types::Currency;
use sqlx::Row as _;
use sqlx::any::AnyExecutor;

use super::{LineItem, currency_of};

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
