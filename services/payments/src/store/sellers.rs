//! Sellers' money: clearances of earnings, the earnings history, payout accounts and
//! withdrawals.

use gigmesh_db::{Backend, DbError, Tx, get_bool};
use gigmesh_types::Money;
use sqlx::Row as _;
use sqlx::any::{AnyExecutor, AnyRow};

use super::{lock, money_of};

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
