//! Every user's stream of events: rows numbered from 1 per user, appended in the
//! transaction of the change they tell of, read after the last number a stream sent.
//!
//! A number is taken by an upsert of the user's head row, which PostgreSQL locks until the
//! transaction ends: a second writer for the same user waits and takes the next number, so
//! rows become visible in number order and a reader that saw number n never later finds a
//! smaller one. (SQLite runs one writer at a time.) A transaction that writes rows for two
//! users takes their heads in ascending user id order, so two such writers cannot deadlock.

use gigmesh_db::{DbError, Tx};
use gigmesh_types::UserId;
use sqlx::Row;
use sqlx::any::AnyExecutor;
use tracing::instrument;

/// One stored event of a user's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRow {
    /// Its number in the user's stream.
    pub seq: i64,
    /// The encoded `ChatEvent`, without its event id.
    pub event: Vec<u8>,
}

/// Appends `event` to `user_id`'s stream; returns its number.
#[instrument(skip_all, fields(user_id = %user_id))]
pub async fn append(
    tx: &mut Tx,
    user_id: UserId,
    event: Vec<u8>,
    now: i64,
) -> Result<i64, DbError> {
    let row = sqlx::query(
        "INSERT INTO stream_heads (user_id, last_seq) VALUES ($1, 1) \
         ON CONFLICT (user_id) DO UPDATE SET last_seq = stream_heads.last_seq + 1 \
         RETURNING last_seq",
    )
    .bind(user_id.to_string())
    .fetch_one(&mut **tx)
    .await?;
    let seq: i64 = row.try_get("last_seq")?;
    sqlx::query(
        "INSERT INTO stream_events (user_id, seq, event, create_time) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id.to_string())
    .bind(seq)
    .bind(event)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(seq)
}

/// The number of `user_id`'s latest event; 0 before the first.
#[instrument(skip_all, fields(user_id = %user_id))]
pub async fn head<'c>(executor: impl AnyExecutor<'c>, user_id: UserId) -> Result<i64, DbError> {
    let row = sqlx::query("SELECT last_seq FROM stream_heads WHERE user_id = $1")
        .bind(user_id.to_string())
        .fetch_optional(executor)
        .await?;
    Ok(match row {
        Some(row) => row.try_get("last_seq")?,
        None => 0,
    })
}

/// Up to `batch` of `user_id`'s events after number `after`, in order.
#[instrument(skip_all, fields(user_id = %user_id, after))]
pub async fn read_after<'c>(
    executor: impl AnyExecutor<'c>,
    user_id: UserId,
    after: i64,
    batch: u32,
) -> Result<Vec<StreamRow>, DbError> {
    let rows = sqlx::query(
        "SELECT seq, event FROM stream_events WHERE user_id = $1 AND seq > $2 \
         ORDER BY seq LIMIT $3",
    )
    .bind(user_id.to_string())
    .bind(after)
    .bind(i64::from(batch))
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StreamRow {
                seq: row.try_get("seq")?,
                event: row.try_get("event")?,
            })
        })
        .collect()
}

/// The number of `user_id`'s oldest kept event, if any is kept.
#[instrument(skip_all, fields(user_id = %user_id))]
pub async fn oldest_kept<'c>(
    executor: impl AnyExecutor<'c>,
    user_id: UserId,
) -> Result<Option<i64>, DbError> {
    let row = sqlx::query("SELECT MIN(seq) AS oldest FROM stream_events WHERE user_id = $1")
        .bind(user_id.to_string())
        .fetch_one(executor)
        .await?;
    Ok(row.try_get("oldest")?)
}
