//! The record of sent mail: portable SQL over `sqlx::Any`, on SQLite and PostgreSQL alike.

use gigmesh_db::{DbError, Tx};
use sqlx::Row;
use sqlx::any::AnyExecutor;
use tracing::instrument;

use crate::domain::MailKind;

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

/// Records that the mail for `event_id` was sent; a second record for the same event is
/// ignored.
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
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id.to_owned())
    .bind(kind.as_str())
    .bind(recipient.to_owned())
    .bind(sent_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether the mail for `event_id` was recorded as sent.
#[instrument(skip_all, fields(event_id = %event_id))]
pub async fn was_sent(tx: &mut Tx, event_id: &str) -> Result<bool, DbError> {
    let row = sqlx::query("SELECT event_id FROM sent_mail WHERE event_id = $1")
        .bind(event_id.to_owned())
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
