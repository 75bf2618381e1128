//! Conversations and each participant's side of them: the latest activity a participant's
//! list is ordered by, their read position and their unread count.

use gigmesh_db::{DbError, Tx};
use gigmesh_types::{ConversationId, MessageId, OrderId, UserId};
use sqlx::Row;
use sqlx::any::{AnyExecutor, AnyRow};
use tracing::instrument;

use super::{id_column, limit, optional_id_column};
use crate::domain::conversation::{Conversation, ParticipantView};

const CONVERSATION_COLUMNS: &str = "c.id, c.buyer_id, c.seller_id, c.gig_id, c.order_id, \
     c.create_time, c.last_message_id";

const VIEW_FROM: &str = "FROM participants p \
     JOIN conversations c ON c.id = p.conversation_id \
     JOIN participants o ON o.conversation_id = p.conversation_id AND o.user_id = p.other_id";

/// Where a page of a participant's conversations ends: the last one's activity time and id.
pub type ConversationPosition = (i64, String);

/// A participant's view and the id of the conversation's latest message.
#[derive(Debug, Clone)]
pub struct StoredView {
    /// The view.
    pub view: ParticipantView,
    /// The latest message, if any.
    pub last_message_id: Option<MessageId>,
}

/// Inserts a conversation and both participants' sides (nothing read, activity at its
/// opening). `inquiry_key` is set for an inquiry; a second inquiry of the same two, or a
/// second conversation of one order, is refused by a unique index.
#[instrument(skip_all, fields(conversation_id = %conversation.id))]
pub async fn insert_conversation(
    tx: &mut Tx,
    conversation: &Conversation,
    inquiry_key: Option<String>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO conversations (id, buyer_id, seller_id, gig_id, order_id, inquiry_key, \
         last_message_id, create_time) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
    )
    .bind(conversation.id.to_string())
    .bind(conversation.buyer_id.to_string())
    .bind(conversation.seller_id.to_string())
    .bind(conversation.gig_id.map(|id| id.to_string()))
    .bind(conversation.order_id.map(|id| id.to_string()))
    .bind(inquiry_key)
    .bind(conversation.create_time)
    .execute(&mut **tx)
    .await?;
    for (user_id, other_id) in [
        (conversation.buyer_id, conversation.seller_id),
        (conversation.seller_id, conversation.buyer_id),
    ] {
        sqlx::query(
            "INSERT INTO participants (conversation_id, user_id, other_id, activity_time, \
             read_message_id, unread_count) VALUES ($1, $2, $3, $4, NULL, 0)",
        )
        .bind(conversation.id.to_string())
        .bind(user_id.to_string())
        .bind(other_id.to_string())
        .bind(conversation.create_time)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The conversation with `conversation_id`.
#[instrument(skip_all, fields(conversation_id = %conversation_id))]
pub async fn find_conversation<'c>(
    executor: impl AnyExecutor<'c>,
    conversation_id: ConversationId,
) -> Result<Option<Conversation>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = $1"
    ))
    .bind(conversation_id.to_string())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(conversation_from_row).transpose()
}

/// The one inquiry conversation of `buyer_id` with `seller_id`.
#[instrument(skip_all)]
pub async fn find_inquiry<'c>(
    executor: impl AnyExecutor<'c>,
    inquiry_key: &str,
) -> Result<Option<Conversation>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.inquiry_key = $1"
    ))
    .bind(inquiry_key.to_owned())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(conversation_from_row).transpose()
}

/// The conversation of the order `order_id`.
#[instrument(skip_all, fields(order_id = %order_id))]
pub async fn find_by_order<'c>(
    executor: impl AnyExecutor<'c>,
    order_id: OrderId,
) -> Result<Option<Conversation>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.order_id = $1"
    ))
    .bind(order_id.to_string())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(conversation_from_row).transpose()
}

/// `user_id`'s view of the conversation, or `None` when they take no part in it.
#[instrument(skip_all, fields(conversation_id = %conversation_id))]
pub async fn find_view<'c>(
    executor: impl AnyExecutor<'c>,
    conversation_id: ConversationId,
    user_id: UserId,
) -> Result<Option<StoredView>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {CONVERSATION_COLUMNS}, p.activity_time, p.read_message_id, p.unread_count, \
         o.read_message_id AS other_read_message_id {VIEW_FROM} \
         WHERE p.conversation_id = $1 AND p.user_id = $2"
    ))
    .bind(conversation_id.to_string())
    .bind(user_id.to_string())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(view_from_row).transpose()
}

/// A page of `user_id`'s conversations, the latest activity first, after `after`.
#[instrument(skip_all, fields(user_id = %user_id))]
pub async fn list_views<'c>(
    executor: impl AnyExecutor<'c>,
    user_id: UserId,
    after: Option<&ConversationPosition>,
    page_size: u32,
) -> Result<Vec<StoredView>, DbError> {
    let select = format!(
        "SELECT {CONVERSATION_COLUMNS}, p.activity_time, p.read_message_id, p.unread_count, \
         o.read_message_id AS other_read_message_id {VIEW_FROM} WHERE p.user_id = $1"
    );
    let order = "ORDER BY p.activity_time DESC, p.conversation_id DESC";
    let rows = match after {
        None => {
            sqlx::query(&format!("{select} {order} LIMIT $2"))
                .bind(user_id.to_string())
                .bind(limit(page_size))
                .fetch_all(executor)
                .await?
        }
        Some((activity_time, conversation_id)) => {
            sqlx::query(&format!(
                "{select} AND (p.activity_time < $2 OR (p.activity_time = $2 \
                 AND p.conversation_id < $3)) {order} LIMIT $4"
            ))
            .bind(user_id.to_string())
            .bind(*activity_time)
            .bind(conversation_id.clone())
            .bind(limit(page_size))
            .fetch_all(executor)
            .await?
        }
    };
    rows.iter().map(view_from_row).collect()
}

/// Unread messages over all of `user_id`'s conversations.
#[instrument(skip_all, fields(user_id = %user_id))]
pub async fn total_unread<'c>(
    executor: impl AnyExecutor<'c>,
    user_id: UserId,
) -> Result<i64, DbError> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(unread_count), 0) AS BIGINT) AS total FROM participants \
         WHERE user_id = $1",
    )
    .bind(user_id.to_string())
    .fetch_one(executor)
    .await?;
    Ok(row.try_get("total")?)
}

/// Records a new message: it is the conversation's latest, both sides' activity moves to
/// its time, and the recipient has one more unread.
#[instrument(skip_all, fields(conversation_id = %conversation_id))]
pub async fn record_message(
    tx: &mut Tx,
    conversation_id: ConversationId,
    message_id: MessageId,
    recipient_id: UserId,
    time: i64,
) -> Result<(), DbError> {
    sqlx::query("UPDATE conversations SET last_message_id = $1 WHERE id = $2")
        .bind(message_id.to_string())
        .bind(conversation_id.to_string())
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE participants SET activity_time = $1, \
         unread_count = unread_count + CASE WHEN user_id = $2 THEN 1 ELSE 0 END \
         WHERE conversation_id = $3",
    )
    .bind(time)
    .bind(recipient_id.to_string())
    .bind(conversation_id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves `reader_id`'s read position forward to `message_id` (never back) and recounts
/// their unread messages; returns whether it moved.
#[instrument(skip_all, fields(conversation_id = %conversation_id))]
pub async fn move_read_position(
    tx: &mut Tx,
    conversation_id: ConversationId,
    reader_id: UserId,
    message_id: MessageId,
) -> Result<bool, DbError> {
    let result = sqlx::query(
        "UPDATE participants SET read_message_id = $1, unread_count = (\
            SELECT COUNT(*) FROM messages m WHERE m.conversation_id = $2 \
            AND m.sender_id <> $3 AND m.id > $1) \
         WHERE conversation_id = $2 AND user_id = $3 \
         AND (read_message_id IS NULL OR read_message_id < $1)",
    )
    .bind(message_id.to_string())
    .bind(conversation_id.to_string())
    .bind(reader_id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

fn conversation_from_row(row: &AnyRow) -> Result<Conversation, DbError> {
    Ok(Conversation {
        id: id_column(row, "id")?,
        buyer_id: id_column(row, "buyer_id")?,
        seller_id: id_column(row, "seller_id")?,
        gig_id: optional_id_column(row, "gig_id")?,
        order_id: optional_id_column(row, "order_id")?,
        create_time: row.try_get("create_time")?,
    })
}

fn view_from_row(row: &AnyRow) -> Result<StoredView, DbError> {
    Ok(StoredView {
        view: ParticipantView {
            conversation: conversation_from_row(row)?,
            activity_time: row.try_get("activity_time")?,
            read_message_id: optional_id_column(row, "read_message_id")?,
            unread_count: row.try_get("unread_count")?,
            other_read_message_id: optional_id_column(row, "other_read_message_id")?,
        },
        last_message_id: optional_id_column(row, "last_message_id")?,
    })
}
