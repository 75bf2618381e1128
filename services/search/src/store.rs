//! The `gig_documents` table: the last applied snapshot of every gig, portable SQL over
//! `sqlx::Any` for SQLite and PostgreSQL alike.

use gigmesh_db::{DbError, Tx};
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

/// The stored snapshot of a gig: the encoded `gigmesh.gigs.v1.Gig` of the latest version.
#[instrument(skip_all, fields(gig_id = %gig_id))]
pub async fn find_snapshot<'c>(
    executor: impl AnyExecutor<'c>,
    gig_id: GigId,
) -> Result<Option<Vec<u8>>, DbError> {
    let row = sqlx::query("SELECT snapshot FROM gig_documents WHERE gig_id = $1")
        .bind(gig_id.to_string())
        .fetch_optional(executor)
        .await?;
    row.map(|row| row.try_get("snapshot"))
        .transpose()
        .map_err(DbError::from)
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
