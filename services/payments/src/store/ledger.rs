//! The ledger's journal (transactions and their entries, pending holds posted or voided)
//! and the balances and totals its invariants are checked against.

use gigmesh_db::{DbError, Tx};
use gigmesh_types::Currency;
use sqlx::Row as _;
use sqlx::any::AnyExecutor;

use super::{currency_of, new_id};
use crate::ledger::{Account, AccountKind, Balance, Balances, Transaction};

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
