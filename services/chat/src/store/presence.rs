//! Who has a stream open on which replica, refreshed while it stays open: the rows behind
//! "online now", shared by every replica.

use gigmesh_db::DbError;
use gigmesh_types::UserId;
use sqlx::any::AnyExecutor;
use tracing::instrument;

use super::{id_column, placeholders};

/// Users written per statement of a refresh: one parameter each, plus the three the rows
/// share, well inside SQLite's and PostgreSQL's limits.
const USERS_PER_STATEMENT: usize = 500;

/// Marks `user_ids` online on `replica_id` until `expire_time`, by the refresh
/// `refresh_id`, a few hundred users per statement.
#[instrument(skip_all, fields(replica_id, users = user_ids.len()))]
pub async fn refresh(
    tx: &mut gigmesh_db::Tx,
    replica_id: &str,
    refresh_id: &str,
    user_ids: &[UserId],
    expire_time: i64,
) -> Result<(), DbError> {
    for chunk in user_ids.chunks(USERS_PER_STATEMENT) {
        // $1 to $3 are the replica, the refresh and the expiry; each row adds its user.
        let rows: Vec<String> = (0..chunk.len())
            .map(|index| format!("(${}, $1, $2, $3)", index + 4))
            .collect();
        let sql = format!(
            "INSERT INTO presence (user_id, replica_id, refresh_id, expire_time) VALUES {} \
             ON CONFLICT (user_id, replica_id) DO UPDATE SET \
             refresh_id = excluded.refresh_id, expire_time = excluded.expire_time",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql)
            .bind(replica_id.to_owned())
            .bind(refresh_id.to_owned())
            .bind(expire_time);
        for user_id in chunk {
            query = query.bind(user_id.to_string());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Forgets the rows of `replica_id` that its refresh `refresh_id` did not write (their
/// streams closed; every row, for a refresh id no row has) and every replica's expired rows.
#[instrument(skip_all, fields(replica_id))]
pub async fn forget_stale<'c>(
    executor: impl AnyExecutor<'c>,
    replica_id: &str,
    refresh_id: &str,
    now: i64,
) -> Result<u64, DbError> {
    let result = sqlx::query(
        "DELETE FROM presence WHERE (replica_id = $1 AND refresh_id <> $2) OR expire_time < $3",
    )
    .bind(replica_id.to_owned())
    .bind(refresh_id.to_owned())
    .bind(now)
    .execute(executor)
    .await?;
    Ok(result.rows_affected())
}

/// Those of `user_ids` online on any replica at `now`.
#[instrument(skip_all, fields(users = user_ids.len()))]
pub async fn online<'c>(
    executor: impl AnyExecutor<'c>,
    user_ids: &[UserId],
    now: i64,
) -> Result<Vec<UserId>, DbError> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT DISTINCT user_id FROM presence WHERE expire_time >= $1 AND user_id IN ({})",
        placeholders(2, user_ids.len())
    );
    let mut query = sqlx::query(&sql).bind(now);
    for user_id in user_ids {
        query = query.bind(user_id.to_string());
    }
    let rows = query.fetch_all(executor).await?;
    rows.iter().map(|row| id_column(row, "user_id")).collect()
}
