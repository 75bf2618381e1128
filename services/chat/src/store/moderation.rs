//! Blocks between users, participants' reports of conversations, and the count of each
//! sender's messages flagged for taking business off the marketplace.

use gigmesh_db::{DbError, Tx};
use gigmesh_types::{ConversationId, UserId};
use sqlx::Row;
use sqlx::any::{AnyExecutor, AnyRow};
use tracing::instrument;

use super::{id_column, limit, placeholders};
use crate::domain::circumvention::Flags;

/// Where a page of blocks, reports or flagged senders ends: a time (or count) and an id.
pub type Position = (i64, String);

/// A stored report.
#[derive(Debug, Clone)]
pub struct StoredReport {
    /// The report's id.
    pub id: String,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Who reported it.
    pub reporter_id: UserId,
    /// Why.
    pub reason: String,
    /// When, Unix milliseconds.
    pub create_time: i64,
}

/// A sender's flag counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlaggedSender {
    /// The sender.
    pub user_id: UserId,
    /// Flagged messages in all.
    pub flagged_messages: i64,
    /// Of which with an email address.
    pub email_addresses: i64,
    /// With a phone number.
    pub phone_numbers: i64,
    /// Asking to pay outside the marketplace.
    pub off_platform_payments: i64,
    /// The latest flagged message's time.
    pub last_flag_time: i64,
}

/// `blocker_id` blocks `blocked_id` (again: nothing changes).
#[instrument(skip_all)]
pub async fn block<'c>(
    executor: impl AnyExecutor<'c>,
    blocker_id: UserId,
    blocked_id: UserId,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO blocks (blocker_id, blocked_id, create_time) VALUES ($1, $2, $3) \
         ON CONFLICT (blocker_id, blocked_id) DO NOTHING",
    )
    .bind(blocker_id.to_string())
    .bind(blocked_id.to_string())
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}

/// `blocker_id` lifts a block of `blocked_id` (none: nothing changes).
#[instrument(skip_all)]
pub async fn unblock<'c>(
    executor: impl AnyExecutor<'c>,
    blocker_id: UserId,
    blocked_id: UserId,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2")
        .bind(blocker_id.to_string())
        .bind(blocked_id.to_string())
        .execute(executor)
        .await?;
    Ok(())
}

/// Whether `blocker_id` blocks `blocked_id`.
#[instrument(skip_all)]
pub async fn blocks<'c>(
    executor: impl AnyExecutor<'c>,
    blocker_id: UserId,
    blocked_id: UserId,
) -> Result<bool, DbError> {
    let row = sqlx::query("SELECT 1 AS one FROM blocks WHERE blocker_id = $1 AND blocked_id = $2")
        .bind(blocker_id.to_string())
        .bind(blocked_id.to_string())
        .fetch_optional(executor)
        .await?;
    Ok(row.is_some())
}

/// A page of the users `blocker_id` blocks, the latest block first, with each one's
/// position.
#[instrument(skip_all)]
pub async fn list_blocked<'c>(
    executor: impl AnyExecutor<'c>,
    blocker_id: UserId,
    after: Option<&Position>,
    page_size: u32,
) -> Result<Vec<(UserId, Position)>, DbError> {
    let rows = match after {
        None => {
            sqlx::query(
                "SELECT blocked_id, create_time FROM blocks WHERE blocker_id = $1 \
                 ORDER BY create_time DESC, blocked_id DESC LIMIT $2",
            )
            .bind(blocker_id.to_string())
            .bind(limit(page_size))
            .fetch_all(executor)
            .await?
        }
        Some((time, blocked_id)) => {
            sqlx::query(
                "SELECT blocked_id, create_time FROM blocks WHERE blocker_id = $1 \
                 AND (create_time < $2 OR (create_time = $2 AND blocked_id < $3)) \
                 ORDER BY create_time DESC, blocked_id DESC LIMIT $4",
            )
            .bind(blocker_id.to_string())
            .bind(*time)
            .bind(blocked_id.clone())
            .bind(limit(page_size))
            .fetch_all(executor)
            .await?
        }
    };
    rows.iter()
        .map(|row| {
            let blocked_id: String = row.try_get("blocked_id")?;
            Ok((
                id_column(row, "blocked_id")?,
                (row.try_get("create_time")?, blocked_id),
            ))
        })
        .collect()
}

/// Stores a report.
#[instrument(skip_all, fields(conversation_id = %report.conversation_id))]
pub async fn insert_report(tx: &mut Tx, report: &StoredReport) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO conversation_reports (id, conversation_id, reporter_id, reason, \
         create_time) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(report.id.clone())
    .bind(report.conversation_id.to_string())
    .bind(report.reporter_id.to_string())
    .bind(report.reason.clone())
    .bind(report.create_time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether a participant reported the conversation.
#[instrument(skip_all, fields(conversation_id = %conversation_id))]
pub async fn is_reported<'c>(
    executor: impl AnyExecutor<'c>,
    conversation_id: ConversationId,
) -> Result<bool, DbError> {
    let row =
        sqlx::query("SELECT 1 AS one FROM conversation_reports WHERE conversation_id = $1 LIMIT 1")
            .bind(conversation_id.to_string())
            .fetch_optional(executor)
            .await?;
    Ok(row.is_some())
}

/// A page of reports, the latest first.
#[instrument(skip_all)]
pub async fn list_reports<'c>(
    executor: impl AnyExecutor<'c>,
    after: Option<&Position>,
    page_size: u32,
) -> Result<Vec<StoredReport>, DbError> {
    let columns = "id, conversation_id, reporter_id, reason, create_time";
    let rows = match after {
        None => {
            sqlx::query(&format!(
                "SELECT {columns} FROM conversation_reports \
                 ORDER BY create_time DESC, id DESC LIMIT $1"
            ))
            .bind(limit(page_size))
            .fetch_all(executor)
            .await?
        }
        Some((time, id)) => {
            sqlx::query(&format!(
                "SELECT {columns} FROM conversation_reports \
                 WHERE create_time < $1 OR (create_time = $1 AND id < $2) \
                 ORDER BY create_time DESC, id DESC LIMIT $3"
            ))
            .bind(*time)
            .bind(id.clone())
            .bind(limit(page_size))
            .fetch_all(executor)
            .await?
        }
    };
    rows.iter().map(report_from_row).collect()
}

/// Counts a flagged message of `sender_id`.
#[instrument(skip_all, fields(sender_id = %sender_id))]
pub async fn record_flags(
    tx: &mut Tx,
    sender_id: UserId,
    flags: Flags,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO flagged_senders (user_id, flagged_messages, email_addresses, \
         phone_numbers, off_platform_payments, last_flag_time) VALUES ($1, 1, $2, $3, $4, $5) \
         ON CONFLICT (user_id) DO UPDATE SET \
         flagged_messages = flagged_senders.flagged_messages + 1, \
         email_addresses = flagged_senders.email_addresses + excluded.email_addresses, \
         phone_numbers = flagged_senders.phone_numbers + excluded.phone_numbers, \
         off_platform_payments = flagged_senders.off_platform_payments \
            + excluded.off_platform_payments, \
         last_flag_time = excluded.last_flag_time",
    )
    .bind(sender_id.to_string())
    .bind(i64::from(flags.email_address))
    .bind(i64::from(flags.phone_number))
    .bind(i64::from(flags.off_platform_payment))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A page of flagged senders, the most flagged first.
#[instrument(skip_all)]
pub async fn list_flagged<'c>(
    executor: impl AnyExecutor<'c>,
    after: Option<&Position>,
    page_size: u32,
) -> Result<Vec<FlaggedSender>, DbError> {
    let columns = "user_id, flagged_messages, email_addresses, phone_numbers, \
         off_platform_payments, last_flag_time";
    let rows = match after {
        None => {
            sqlx::query(&format!(
                "SELECT {columns} FROM flagged_senders \
                 ORDER BY flagged_messages DESC, user_id DESC LIMIT $1"
            ))
            .bind(limit(page_size))
            .fetch_all(executor)
            .await?
        }
        Some((count, user_id)) => {
            sqlx::query(&format!(
                "SELECT {columns} FROM flagged_senders \
                 WHERE flagged_messages < $1 OR (flagged_messages = $1 AND user_id < $2) \
                 ORDER BY flagged_messages DESC, user_id DESC LIMIT $3"
            ))
            .bind(*count)
            .bind(user_id.clone())
            .bind(limit(page_size))
            .fetch_all(executor)
            .await?
        }
    };
    rows.iter()
        .map(|row| {
            Ok(FlaggedSender {
                user_id: id_column(row, "user_id")?,
                flagged_messages: row.try_get("flagged_messages")?,
                email_addresses: row.try_get("email_addresses")?,
                phone_numbers: row.try_get("phone_numbers")?,
                off_platform_payments: row.try_get("off_platform_payments")?,
                last_flag_time: row.try_get("last_flag_time")?,
            })
        })
        .collect()
}

fn report_from_row(row: &AnyRow) -> Result<StoredReport, DbError> {
    Ok(StoredReport {
        id: row.try_get("id")?,
        conversation_id: id_column(row, "conversation_id")?,
        reporter_id: id_column(row, "reporter_id")?,
        reason: row.try_get("reason")?,
        create_time: row.try_get("create_time")?,
    })
}

/// Those of `user_ids` whom `blocker_id` blocks.
#[instrument(skip_all, fields(users = user_ids.len()))]
pub async fn blocked_among<'c>(
    executor: impl AnyExecutor<'c>,
    blocker_id: UserId,
    user_ids: &[UserId],
) -> Result<Vec<UserId>, DbError> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT blocked_id FROM blocks WHERE blocker_id = $1 AND blocked_id IN ({})",
        placeholders(2, user_ids.len())
    );
    let mut query = sqlx::query(&sql).bind(blocker_id.to_string());
    for user_id in user_ids {
        query = query.bind(user_id.to_string());
    }
    let rows = query.fetch_all(executor).await?;
    rows.iter()
        .map(|row| id_column(row, "blocked_id"))
        .collect()
}
