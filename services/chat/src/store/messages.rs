//! Messages: written once, read by id, by their sender's request id, and a conversation's
//! paged backward by id (UUIDv7, so by time); and the count the rate limit reads.

use gigmesh_db::{DbError, Tx};
use gigmesh_types::{ConversationId, MessageId, UserId};
use sqlx::Row;
use sqlx::any::{AnyExecutor, AnyRow};
use tracing::instrument;

use super::{decode_json, encode_json, id_column, limit, optional_id_column, placeholders};
use crate::domain::message::Message;

const MESSAGE_COLUMNS: &str =
    "id, conversation_id, sender_id, text, attachments, offer_id, warning, create_time";

/// Inserts `message`; a second message of the sender with the same `request_id` is refused
/// by a unique index (`DbError::is_unique_violation_on("request")`).
#[instrument(skip_all, fields(message_id = %message.id))]
pub async fn insert_message(
    tx: &mut Tx,
    message: &Message,
    request_id: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, sender_id, request_id, text, attachments, \
         offer_id, warning, create_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(message.id.to_string())
    .bind(message.conversation_id.to_string())
    .bind(message.sender_id.to_string())
    .bind(request_id.to_owned())
    .bind(message.text.clone())
    .bind(encode_json(&message.attachments)?)
    .bind(message.offer_id.map(|id| id.to_string()))
    .bind(message.warning.clone())
    .bind(message.create_time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The message `sender_id` sent with `request_id`.
#[instrument(skip_all, fields(sender_id = %sender_id))]
pub async fn find_by_request<'c>(
    executor: impl AnyExecutor<'c>,
    sender_id: UserId,
    request_id: &str,
) -> Result<Option<Message>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE sender_id = $1 AND request_id = $2"
    ))
    .bind(sender_id.to_string())
    .bind(request_id.to_owned())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(message_from_row).transpose()
}

/// The message with `message_id`.
#[instrument(skip_all, fields(message_id = %message_id))]
pub async fn find_message<'c>(
    executor: impl AnyExecutor<'c>,
    message_id: MessageId,
) -> Result<Option<Message>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
    ))
    .bind(message_id.to_string())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(message_from_row).transpose()
}

/// The messages with these ids, in no particular order (those that exist).
#[instrument(skip_all, fields(count = message_ids.len()))]
pub async fn find_messages<'c>(
    executor: impl AnyExecutor<'c>,
    message_ids: &[MessageId],
) -> Result<Vec<Message>, DbError> {
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN ({})",
        placeholders(1, message_ids.len())
    );
    let mut query = sqlx::query(&sql);
    for id in message_ids {
        query = query.bind(id.to_string());
    }
    let rows = query.fetch_all(executor).await?;
    rows.iter().map(message_from_row).collect()
}

/// A page of the conversation's messages, newest first, older than `before`.
#[instrument(skip_all, fields(conversation_id = %conversation_id))]
pub async fn page<'c>(
    executor: impl AnyExecutor<'c>,
    conversation_id: ConversationId,
    before: Option<MessageId>,
    page_size: u32,
) -> Result<Vec<Message>, DbError> {
    let rows = match before {
        None => {
            sqlx::query(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 \
                 ORDER BY id DESC LIMIT $2"
            ))
            .bind(conversation_id.to_string())
            .bind(limit(page_size))
            .fetch_all(executor)
            .await?
        }
        Some(before) => {
            sqlx::query(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND id < $2 \
                 ORDER BY id DESC LIMIT $3"
            ))
            .bind(conversation_id.to_string())
            .bind(before.to_string())
            .bind(limit(page_size))
            .fetch_all(executor)
            .await?
        }
    };
    rows.iter().map(message_from_row).collect()
}

/// How many messages `sender_id` sent after `since`, and the time of the first of them.
#[instrument(skip_all, fields(sender_id = %sender_id))]
pub async fn sent_since<'c>(
    executor: impl AnyExecutor<'c>,
    sender_id: UserId,
    since: i64,
) -> Result<(i64, Option<i64>), DbError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS sent, MIN(create_time) AS first_time FROM messages \
         WHERE sender_id = $1 AND create_time > $2",
    )
    .bind(sender_id.to_string())
    .bind(since)
    .fetch_one(executor)
    .await?;
    Ok((row.try_get("sent")?, row.try_get("first_time")?))
}

/// Whether the conversation has a message of `sender_id`.
#[instrument(skip_all, fields(conversation_id = %conversation_id))]
pub async fn has_message_of<'c>(
    executor: impl AnyExecutor<'c>,
    conversation_id: ConversationId,
    sender_id: UserId,
) -> Result<bool, DbError> {
    let row = sqlx::query(
        "SELECT 1 AS one FROM messages WHERE conversation_id = $1 AND sender_id = $2 LIMIT 1",
    )
    .bind(conversation_id.to_string())
    .bind(sender_id.to_string())
    .fetch_optional(executor)
    .await?;
    Ok(row.is_some())
}

fn message_from_row(row: &AnyRow) -> Result<Message, DbError> {
    let attachments: String = row.try_get("attachments")?;
    Ok(Message {
        id: id_column(row, "id")?,
        conversation_id: id_column(row, "conversation_id")?,
        sender_id: id_column(row, "sender_id")?,
        text: row.try_get("text")?,
        attachments: decode_json(&attachments)?,
        offer_id: optional_id_column(row, "offer_id")?,
        warning: row.try_get("warning")?,
        create_time: row.try_get("create_time")?,
    })
}
