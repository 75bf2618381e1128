//! Chat persistence: portable SQL over `sqlx::Any`, run on SQLite and PostgreSQL alike, one
//! file per concern. Lists page by keyset (never by offset); changes to an offer apply only
//! to the version that was read. The stream rows are gigmesh-streams' tables.

pub mod conversations;
pub mod gigs;
pub mod messages;
pub mod moderation;
pub mod offers;
pub mod presence;
pub mod response_times;

use gigmesh_db::DbError;
use sqlx::any::AnyRow;
use sqlx::{Error as SqlxError, Row};
use uuid::Uuid;

/// A non-null id column.
fn id_column<T: From<Uuid>>(row: &AnyRow, column: &str) -> Result<T, DbError> {
    let raw: String = row.try_get(column)?;
    Ok(T::from(parse_uuid(&raw)?))
}

/// A nullable id column.
fn optional_id_column<T: From<Uuid>>(row: &AnyRow, column: &str) -> Result<Option<T>, DbError> {
    let raw: Option<String> = row.try_get(column)?;
    raw.map(|raw| parse_uuid(&raw).map(T::from)).transpose()
}

fn parse_uuid(raw: &str) -> Result<Uuid, DbError> {
    Uuid::parse_str(raw).map_err(decode_error)
}

fn encode_json(value: &impl serde::Serialize) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|error| DbError::from(SqlxError::Encode(Box::new(error))))
}

fn decode_json<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, DbError> {
    serde_json::from_str(raw).map_err(decode_error)
}

fn decode_error(error: impl std::error::Error + Send + Sync + 'static) -> DbError {
    DbError::from(SqlxError::Decode(Box::new(error)))
}

/// A value the database holds that the code cannot read (a currency or state it does not
/// know).
fn unreadable(what: String) -> DbError {
    DbError::from(SqlxError::Decode(what.into()))
}

/// A BIGINT column holding an `i32` (the Any driver reads every integer as 64 bits).
fn small_int(row: &AnyRow, column: &str) -> Result<i32, DbError> {
    let wide: i64 = row.try_get(column)?;
    i32::try_from(wide).map_err(decode_error)
}

/// `$first, $first+1, …` for an `IN (…)` list of `count` parameters.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Page sizes as SQL `LIMIT` values.
fn limit(page_size: u32) -> i64 {
    i64::from(page_size)
}
