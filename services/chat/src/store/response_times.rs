//! The samples a seller's response time is measured from, and the last measure published.

use gigmesh_db::{DbError, Tx};
use gigmesh_types::{ConversationId, UserId};
use sqlx::Row;
use sqlx::any::AnyExecutor;
use tracing::instrument;

use super::{id_column, limit, small_int};
use crate::domain::response_time::{ResponseSample, ResponseTime};

/// Records the buyer's first message of a conversation the buyer opened with a message.
#[instrument(skip_all, fields(conversation_id = %conversation_id))]
pub async fn record_first_message(
    tx: &mut Tx,
    conversation_id: ConversationId,
    seller_id: UserId,
    time: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO response_samples (conversation_id, seller_id, first_message_time, \
         reply_time) VALUES ($1, $2, $3, NULL) ON CONFLICT (conversation_id) DO NOTHING",
    )
    .bind(conversation_id.to_string())
    .bind(seller_id.to_string())
    .bind(time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records the seller's first reply of a conversation; returns whether it was the first.
#[instrument(skip_all, fields(conversation_id = %conversation_id))]
pub async fn record_reply(
    tx: &mut Tx,
    conversation_id: ConversationId,
    time: i64,
) -> Result<bool, DbError> {
    let result = sqlx::query(
        "UPDATE response_samples SET reply_time = $1 \
         WHERE conversation_id = $2 AND reply_time IS NULL",
    )
    .bind(time)
    .bind(conversation_id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// `seller_id`'s samples whose first message came at or after `since`.
#[instrument(skip_all, fields(seller_id = %seller_id))]
pub async fn samples<'c>(
    executor: impl AnyExecutor<'c>,
    seller_id: UserId,
    since: i64,
) -> Result<Vec<ResponseSample>, DbError> {
    let rows = sqlx::query(
        "SELECT first_message_time, reply_time FROM response_samples \
         WHERE seller_id = $1 AND first_message_time >= $2",
    )
    .bind(seller_id.to_string())
    .bind(since)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ResponseSample {
                first_message_time: row.try_get("first_message_time")?,
                reply_time: row.try_get("reply_time")?,
            })
        })
        .collect()
}

/// The measure last published for `seller_id`.
#[instrument(skip_all, fields(seller_id = %seller_id))]
pub async fn published<'c>(
    executor: impl AnyExecutor<'c>,
    seller_id: UserId,
) -> Result<Option<ResponseTime>, DbError> {
    let row = sqlx::query(
        "SELECT median_response_seconds, conversations FROM seller_response_times \
         WHERE seller_id = $1",
    )
    .bind(seller_id.to_string())
    .fetch_optional(executor)
    .await?;
    row.map(|row| {
        Ok(ResponseTime {
            median_seconds: row.try_get("median_response_seconds")?,
            conversations: small_int(&row, "conversations")?,
        })
    })
    .transpose()
}

/// Keeps `time` as the measure published for `seller_id` at `now`.
#[instrument(skip_all, fields(seller_id = %seller_id))]
pub async fn write_published(
    tx: &mut Tx,
    seller_id: UserId,
    time: ResponseTime,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO seller_response_times (seller_id, median_response_seconds, conversations, \
         measure_time) VALUES ($1, $2, $3, $4) ON CONFLICT (seller_id) DO UPDATE SET \
         median_response_seconds = excluded.median_response_seconds, \
         conversations = excluded.conversations, measure_time = excluded.measure_time",
    )
    .bind(seller_id.to_string())
    .bind(time.median_seconds)
    .bind(i64::from(time.conversations))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Up to `batch` sellers with samples whose measure is older than `measured_before` (or
/// was never taken), to measure again as the window slides and waits grow.
#[instrument(skip_all)]
pub async fn sellers_to_remeasure<'c>(
    executor: impl AnyExecutor<'c>,
    measured_before: i64,
    batch: u32,
) -> Result<Vec<UserId>, DbError> {
    let rows = sqlx::query(
        "SELECT DISTINCT s.seller_id FROM response_samples s \
         LEFT JOIN seller_response_times t ON t.seller_id = s.seller_id \
         WHERE t.seller_id IS NULL OR t.measure_time < $1 LIMIT $2",
    )
    .bind(measured_before)
    .bind(limit(batch))
    .fetch_all(executor)
    .await?;
    rows.iter().map(|row| id_column(row, "seller_id")).collect()
}
