//! The `gig_documents` table (the last applied snapshot of every gig) and the
//! `pending_index_changes` table (the gigs a consumer's index has not committed yet),
//! portable SQL over `sqlx::Any` for SQLite and PostgreSQL alike.

use gigmesh_db::{Db, DbError, Tx};
use gigmesh_types::GigId;
use sqlx::Row as _;
use sqlx::any::AnyExecutor;
use tracing::instrument;

/// Rows read per query while walking the whole table.
const SCAN_BATCH: i64 = 500;

/// Stores a snapshot unless one of the same or a newer version is stored; returns whether
/// it stored it.
#[instrument(skip_all, fields(gig_id = %gig_id, version))]
pub async fn save_snapshot(
    tx: &mut Tx,
    gig_id: GigId,
    version: i64,
    visible: bool,
    snapshot: &[u8],
    now_millis: i64,
) -> Result<bool, DbError> {
    let result = sqlx::query(
        "INSERT INTO gig_documents (gig_id, version, visible, snapshot, update_time) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (gig_id) DO UPDATE SET version = excluded.version, \
         visible = excluded.visible, snapshot = excluded.snapshot, \
         update_time = excluded.update_time \
         WHERE gig_documents.version < excluded.version",
    )
    .bind(gig_id.to_string())
    .bind(version)
    .bind(visible)
    .bind(snapshot.to_vec())
    .bind(now_millis)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The snapshots of visible gigs after `after_gig_id` in id order, at most one batch.
#[instrument(skip_all)]
pub async fn visible_snapshots_after<'c>(
    executor: impl AnyExecutor<'c>,
    after_gig_id: &str,
) -> Result<Vec<(String, Vec<u8>)>, DbError> {
    let rows = sqlx::query(
        "SELECT gig_id, snapshot FROM gig_documents \
         WHERE visible = $1 AND gig_id > $2 ORDER BY gig_id LIMIT $3",
    )
    .bind(true)
    .bind(after_gig_id.to_owned())
    .bind(SCAN_BATCH)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("gig_id")?, row.try_get("snapshot")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(DbError::from)
}

/// A gig whose index entry a consumer has yet to commit, with the snapshot stored for it.
#[derive(Debug, Clone)]
pub struct PendingChange {
    /// The gig id as stored.
    pub gig_id: String,
    /// The newest event version marked for the gig.
    pub version: i64,
    /// The stored snapshot, `None` when the table has no row for the gig.
    pub snapshot: Option<Vec<u8>>,
}

/// Marks the gig as changed for `consumer`'s index, keeping the newest version marked.
#[instrument(skip_all, fields(consumer, gig_id = %gig_id, version))]
pub async fn mark_pending(
    tx: &mut Tx,
    consumer: &str,
    gig_id: GigId,
    version: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO pending_index_changes (consumer, gig_id, version) VALUES ($1, $2, $3) \
         ON CONFLICT (consumer, gig_id) DO UPDATE SET version = excluded.version \
         WHERE pending_index_changes.version < excluded.version",
    )
    .bind(consumer.to_owned())
    .bind(gig_id.to_string())
    .bind(version)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// At most `limit` of `consumer`'s pending gigs after `after_gig_id` in id order, each with
/// its stored snapshot.
#[instrument(skip_all, fields(consumer, limit))]
pub async fn pending_changes_after<'c>(
    executor: impl AnyExecutor<'c>,
    consumer: &str,
    after_gig_id: &str,
    limit: usize,
) -> Result<Vec<PendingChange>, DbError> {
    let rows = sqlx::query(
        "SELECT pending.gig_id, pending.version, documents.snapshot \
         FROM pending_index_changes AS pending \
         LEFT JOIN gig_documents AS documents ON documents.gig_id = pending.gig_id \
         WHERE pending.consumer = $1 AND pending.gig_id > $2 \
         ORDER BY pending.gig_id LIMIT $3",
    )
    .bind(consumer.to_owned())
    .bind(after_gig_id.to_owned())
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(PendingChange {
                gig_id: row.try_get("gig_id")?,
                version: row.try_get("version")?,
                snapshot: row.try_get("snapshot")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(DbError::from)
}

/// Unmarks `changes` for `consumer` once its index committed them; a gig marked again with a
/// newer version meanwhile stays pending.
#[instrument(skip_all, fields(consumer, changes = changes.len()))]
pub async fn forget_pending(
    db: &Db,
    consumer: &str,
    changes: &[PendingChange],
) -> Result<(), DbError> {
    let mut tx = db.begin().await?;
    for change in changes {
        sqlx::query(
            "DELETE FROM pending_index_changes \
             WHERE consumer = $1 AND gig_id = $2 AND version <= $3",
        )
        .bind(consumer.to_owned())
        .bind(change.gig_id.clone())
        .bind(change.version)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
