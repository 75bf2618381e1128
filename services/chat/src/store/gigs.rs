//! Chat's copy of each gig (whose it is, its title, whether an offer may be made of it),
//! kept from `GigChanged`; an older snapshot never replaces a newer one.

use gigmesh_db::{DbError, Tx, get_bool};
use gigmesh_types::{Currency, GigId, UserId};
use sqlx::Row;
use sqlx::any::AnyExecutor;
use tracing::instrument;

use super::{id_column, unreadable};

/// What chat knows of a gig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GigSummary {
    /// The gig.
    pub id: GigId,
    /// Its seller.
    pub seller_id: UserId,
    /// Its title.
    pub title: String,
    /// Whether it is active and approved: buyers may ask about it and its seller may offer
    /// it.
    pub offerable: bool,
    /// The currency of its packages.
    pub currency: Currency,
}

/// Keeps `gig` at `version` unless the same or a later version is kept; returns whether it
/// was written.
#[instrument(skip_all, fields(gig_id = %gig.id))]
pub async fn write_gig(
    tx: &mut Tx,
    gig: &GigSummary,
    version: i64,
    now: i64,
) -> Result<bool, DbError> {
    let result = sqlx::query(
        "INSERT INTO gigs (id, seller_id, title, offerable, currency, version, update_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (id) DO UPDATE SET seller_id = excluded.seller_id, \
         title = excluded.title, offerable = excluded.offerable, \
         currency = excluded.currency, version = excluded.version, \
         update_time = excluded.update_time \
         WHERE gigs.version < excluded.version",
    )
    .bind(gig.id.to_string())
    .bind(gig.seller_id.to_string())
    .bind(gig.title.clone())
    .bind(gig.offerable)
    .bind(gig.currency.code())
    .bind(version)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The gig with `gig_id`, if chat has heard of it.
#[instrument(skip_all, fields(gig_id = %gig_id))]
pub async fn find_gig<'c>(
    executor: impl AnyExecutor<'c>,
    gig_id: GigId,
) -> Result<Option<GigSummary>, DbError> {
    let row =
        sqlx::query("SELECT id, seller_id, title, offerable, currency FROM gigs WHERE id = $1")
            .bind(gig_id.to_string())
            .fetch_optional(executor)
            .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let currency: String = row.try_get("currency")?;
    Ok(Some(GigSummary {
        id: id_column(&row, "id")?,
        seller_id: id_column(&row, "seller_id")?,
        title: row.try_get("title")?,
        offerable: get_bool(&row, "offerable")?,
        currency: Currency::from_code(&currency)
            .ok_or_else(|| unreadable(format!("gig {gig_id} has currency {currency}")))?,
    }))
}

/// Whether `user_id` has any gig chat has heard of: a seller a buyer may write to.
#[instrument(skip_all, fields(seller_id = %user_id))]
pub async fn is_known_seller<'c>(
    executor: impl AnyExecutor<'c>,
    user_id: UserId,
) -> Result<bool, DbError> {
    let row = sqlx::query("SELECT 1 AS one FROM gigs WHERE seller_id = $1 LIMIT 1")
        .bind(user_id.to_string())
        .fetch_optional(executor)
        .await?;
    Ok(row.is_some())
}
