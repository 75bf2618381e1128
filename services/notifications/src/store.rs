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
