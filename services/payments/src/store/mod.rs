//! The payment service's SQL: orders as payments knows them, payments, refunds,
//! cancellations, webhook events seen, settlements applied, the ledger's journal and
//! balances, clearances, earnings, payout accounts, withdrawals, users' names, invoices
//! with their per-year counters, and the audit log. Portable SQL on either backend; money
//! in BIGINT minor units, times in BIGINT milliseconds.

use gigmesh_db::{Backend, DbError};
use gigmesh_types::{Currency, Money};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use uuid::Uuid;

mod admin;
mod invoices;
mod ledger;
mod orders;
mod payments;
mod refunds;
mod sellers;

pub use admin::*;
pub use invoices::*;
pub use ledger::*;
pub use orders::*;
pub use payments::*;
pub use refunds::*;
pub use sellers::*;

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
