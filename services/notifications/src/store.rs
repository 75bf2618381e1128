//! The record of sent mail and the recipients the service knows: portable SQL over
//! `sqlx::Any`, on SQLite and PostgreSQL alike.

use gigmesh_db::{DbError, Tx};
use gigmesh_types::Email;
use sqlx::Row;
use sqlx::any::AnyExecutor;
use tracing::instrument;

use crate::domain::MailKind;
use crate::notice::Recipient;

/// One mail the service sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMail {
    /// The event that asked for the mail.
    pub event_id: String,
    /// Which mail (`email_verification`, `password_reset`, `password_changed`).
    pub kind: String,
    /// The address it went to.
    pub recipient: String,
    /// When it was handed to the transport (unix millis).
    pub sent_at: i64,
}

/// Records that the mail for `event_id` was sent to `recipient`; a second record for the
/// same event and recipient is ignored.
#[instrument(skip_all, fields(event_id = %event_id, kind = kind.as_str()))]
pub async fn record_sent_mail(
    tx: &mut Tx,
    event_id: &str,
    kind: MailKind,
    recipient: &str,
    sent_at: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO sent_mail (event_id, kind, recipient, sent_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (event_id, recipient) DO NOTHING",
    )
    .bind(event_id.to_owned())
    .bind(kind.as_str())
    .bind(recipient.to_owned())
    .bind(sent_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether the mail for `event_id` was recorded as sent to `recipient`.
#[instrument(skip_all, fields(event_id = %event_id))]
pub async fn was_sent(tx: &mut Tx, event_id: &str, recipient: &str) -> Result<bool, DbError> {
    let row = sqlx::query("SELECT event_id FROM sent_mail WHERE event_id = $1 AND recipient = $2")
        .bind(event_id.to_owned())
        .bind(recipient.to_owned())
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}

/// Every mail sent to `recipient`, oldest first.
#[instrument(skip_all)]
pub async fn sent_mail_to<'c>(
    executor: impl AnyExecutor<'c>,
    recipient: &str,
) -> Result<Vec<SentMail>, DbError> {
    let rows = sqlx::query(
        "SELECT event_id, kind, recipient, sent_at FROM sent_mail \
         WHERE recipient = $1 ORDER BY sent_at, event_id",
    )
    .bind(recipient.to_owned())
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(SentMail {
                event_id: row.try_get("event_id")?,
                kind: row.try_get("kind")?,
                recipient: row.try_get("recipient")?,
                sent_at: row.try_get("sent_at")?,
            })
        })
        .collect()
}

/// Keeps `email` (and `username`, unless empty) as `user_id`'s address, as of
/// `event_time` (unix millis): an address set from a newer event stays.
#[instrument(skip_all, fields(user_id = %user_id))]
pub async fn keep_address(
    tx: &mut Tx,
    user_id: &str,
    email: &str,
    username: &str,
    event_time: i64,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO recipients (user_id, email, username, email_time, update_time) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (user_id) DO UPDATE SET \
             email = excluded.email, \
             username = CASE WHEN excluded.username = '' THEN recipients.username \
                 ELSE excluded.username END, \
             email_time = excluded.email_time, \
             update_time = excluded.update_time \
         WHERE recipients.email_time <= excluded.email_time",
    )
    .bind(user_id.to_owned())
    .bind(email.to_owned())
    .bind(username.to_owned())
    .bind(event_time)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Keeps `user_id`'s username and display name from their profile as of `event_time` (unix
/// millis): names set from a newer profile stay. The address may still be unknown.
#[instrument(skip_all, fields(user_id = %user_id))]
pub async fn keep_profile_names(
    tx: &mut Tx,
    user_id: &str,
    username: &str,
    display_name: &str,
    event_time: i64,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO recipients (user_id, email, username, display_name, profile_time, \
             update_time) \
         VALUES ($1, NULL, $2, $3, $4, $5) \
         ON CONFLICT (user_id) DO UPDATE SET \
             username = excluded.username, \
             display_name = excluded.display_name, \
             profile_time = excluded.profile_time, \
             update_time = excluded.update_time \
         WHERE recipients.profile_time <= excluded.profile_time",
    )
    .bind(user_id.to_owned())
    .bind(username.to_owned())
    .bind(display_name.to_owned())
    .bind(event_time)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `user_id`'s address and the name to greet them by (the display name, else the
/// username), or `None` while no address is known. An address that no longer parses is
/// treated as unknown.
#[instrument(skip_all, fields(user_id = %user_id))]
pub async fn recipient(tx: &mut Tx, user_id: &str) -> Result<Option<Recipient>, DbError> {
    let row =
        sqlx::query("SELECT email, username, display_name FROM recipients WHERE user_id = $1")
            .bind(user_id.to_owned())
            .fetch_optional(&mut **tx)
            .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let email: Option<String> = row.try_get("email")?;
    let Some(email) = email.and_then(|email| Email::parse("email", &email).ok()) else {
        return Ok(None);
    };
    let username: String = row.try_get("username")?;
    let display_name: String = row.try_get("display_name")?;
    let name = [display_name, username]
        .into_iter()
        .find(|name| !name.trim().is_empty());
    Ok(Some(Recipient { email, name }))
}

/// A conversation's unread messages of one recipient whose mail is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDigest {
    /// The conversation.
    pub conversation_id: String,
    /// Who has not read them.
    pub recipient_id: String,
    /// Who wrote the latest of them.
    pub sender_id: String,
    /// The oldest unread message's time; with the two ids, names this unread streak.
    pub first_unread_time: i64,
    /// The latest message's text.
    pub last_text: String,
}

/// Records a message to `recipient_id`: the start of an unread streak (its mail due at
/// `due_time`), or one more message of the streak that is running.
#[instrument(skip_all, fields(conversation_id = %conversation_id))]
pub async fn record_unread_message(
    tx: &mut Tx,
    conversation_id: &str,
    recipient_id: &str,
    sender_id: &str,
    message_time: i64,
    text: &str,
    due_time: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO message_digests (conversation_id, recipient_id, sender_id, \
             first_unread_time, last_message_time, last_text, due_time, mailed_time) \
         VALUES ($1, $2, $3, $4, $4, $5, $6, NULL) \
         ON CONFLICT (conversation_id, recipient_id) DO UPDATE SET \
             sender_id = excluded.sender_id, \
             last_message_time = excluded.last_message_time, \
             last_text = excluded.last_text \
         WHERE message_digests.last_message_time <= excluded.last_message_time",
    )
    .bind(conversation_id.to_owned())
    .bind(recipient_id.to_owned())
    .bind(sender_id.to_owned())
    .bind(message_time)
    .bind(text.to_owned())
    .bind(due_time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `reader_id` read the conversation up to a message of `read_time`: a streak read to its
/// end is over; one read in part now starts at its latest message (the oldest still unread
/// is no older), its mail due `delay_millis` after it unless it went out already.
#[instrument(skip_all, fields(conversation_id = %conversation_id))]
pub async fn record_read(
    tx: &mut Tx,
    conversation_id: &str,
    reader_id: &str,
    read_time: i64,
    delay_millis: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "DELETE FROM message_digests WHERE conversation_id = $1 AND recipient_id = $2 \
         AND last_message_time <= $3",
    )
    .bind(conversation_id.to_owned())
    .bind(reader_id.to_owned())
    .bind(read_time)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE message_digests SET first_unread_time = last_message_time, \
             due_time = last_message_time + $4 \
         WHERE conversation_id = $1 AND recipient_id = $2 AND first_unread_time <= $3 \
         AND mailed_time IS NULL",
    )
    .bind(conversation_id.to_owned())
    .bind(reader_id.to_owned())
    .bind(read_time)
    .bind(delay_millis)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Up to `batch` streaks whose mail is due at `now` and has not gone out, the earliest
/// first.
#[instrument(skip_all)]
pub async fn due_digests<'c>(
    executor: impl AnyExecutor<'c>,
    now: i64,
    batch: u32,
) -> Result<Vec<DueDigest>, DbError> {
    let rows = sqlx::query(
        "SELECT conversation_id, recipient_id, sender_id, first_unread_time, last_text \
         FROM message_digests WHERE mailed_time IS NULL AND due_time <= $1 \
         ORDER BY due_time LIMIT $2",
    )
    .bind(now)
    .bind(i64::from(batch))
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(DueDigest {
                conversation_id: row.try_get("conversation_id")?,
                recipient_id: row.try_get("recipient_id")?,
                sender_id: row.try_get("sender_id")?,
                first_unread_time: row.try_get("first_unread_time")?,
                last_text: row.try_get("last_text")?,
            })
        })
        .collect()
}

/// Claims `digest`'s mail at `now` if it is still due and unsent (a read, or another
/// replica, may have come first); returns whether this caller sends it.
#[instrument(skip_all, fields(conversation_id = %digest.conversation_id))]
pub async fn claim_digest(tx: &mut Tx, digest: &DueDigest, now: i64) -> Result<bool, DbError> {
    let result = sqlx::query(
        "UPDATE message_digests SET mailed_time = $1 WHERE conversation_id = $2 \
         AND recipient_id = $3 AND first_unread_time = $4 AND mailed_time IS NULL \
         AND due_time <= $1",
    )
    .bind(now)
    .bind(digest.conversation_id.clone())
    .bind(digest.recipient_id.clone())
    .bind(digest.first_unread_time)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}
