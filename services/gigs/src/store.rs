//! Gig, seller summary and saved-gig persistence: portable SQL over `sqlx::Any`, run on
//! SQLite and PostgreSQL alike.
//!
//! Changes use optimistic concurrency: every gig row carries a `version`, and an update only
//! applies to the version that was read, so two concurrent read-modify-writes of one gig
//! cannot silently overwrite each other on either backend. The version is also the version
//! of the gig's `GigChanged` events. Lists are paged by keyset (the last id, or the last
//! save time and id), never by offset, so a page stays stable while gigs are added.

use gigmesh_db::{DbError, Tx};
use gigmesh_types::{GigId, UserId};
use sqlx::any::{AnyArguments, AnyExecutor, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Error as SqlxError, Row};
use tracing::instrument;
use uuid::Uuid;

use crate::domain::{
    Gig, GigContent, GigLists, GigState, GigView, Moderation, Rating, SellerSummary,
};

/// A gig with its seller summary, and the version it was read at.
#[derive(Debug, Clone)]
pub struct StoredGig {
    /// The gig and its seller.
    pub view: GigView,
    /// Version of the row, to be passed back to [`update_gig`].
    pub version: i64,
}

/// Which gigs of a seller a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SellerGigs {
    /// Every gig but the deleted ones (the owner's view).
    AllButDeleted,
    /// Active, approved gigs only (everyone's view).
    Public,
}

const GIG_SELECT: &str = "SELECT g.id, g.seller_id, g.slug, g.title, g.description, \
     g.category_id, g.subcategory_id, g.content, g.state, g.moderation_state, \
     g.moderation_reason, g.rating, g.rating_count, g.version, g.created_at, g.updated_at, \
     g.published_at, s.user_id AS seller_user_id, s.username AS seller_username, \
     s.display_name AS seller_display_name, s.avatar_url AS seller_avatar_url, \
     s.country AS seller_country, s.languages AS seller_languages, \
     s.rating AS seller_rating, s.rating_count AS seller_rating_count, \
     s.suspended AS seller_suspended";

const GIG_FROM: &str = "FROM gigs g LEFT JOIN sellers s ON s.user_id = g.seller_id";

/// The condition that makes a gig visible to buyers: active, approved, and its seller not
/// suspended (`NOT` reads a PostgreSQL boolean and a SQLite 0/1 alike).
const PUBLIC_CONDITION: &str = "g.state = 'active' AND g.moderation_state = 'approved' \
     AND (s.user_id IS NULL OR NOT s.suspended)";

/// Inserts a new gig at version 1.
#[instrument(skip_all, fields(gig_id = %gig.id))]
pub async fn insert_gig(tx: &mut Tx, gig: &Gig) -> Result<(), DbError> {
    let query = sqlx::query(
        "INSERT INTO gigs (id, seller_id, slug, title, description, category_id, \
         subcategory_id, content, state, moderation_state, moderation_reason, rating, \
         rating_count, version, created_at, updated_at, published_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1, $14, $15, $16)",
    )
    .bind(gig.id.to_string())
    .bind(gig.seller_id.to_string());
    bind_written_columns(query, gig)?
        .bind(gig.created_at)
        .bind(gig.updated_at)
        .bind(gig.published_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Locks the creation of gigs by `seller_id` until `tx` ends: a concurrent transaction
/// taking the same lock waits for this one to commit or roll back, and its later reads see
/// what this one wrote. Taken before counting the seller's gigs, so count and insert hold
/// together on both backends.
#[instrument(skip_all, fields(seller_id = %seller_id))]
pub async fn lock_gig_creation(tx: &mut Tx, seller_id: UserId) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO gig_creation_locks (seller_id) VALUES ($1) \
         ON CONFLICT (seller_id) DO UPDATE SET seller_id = excluded.seller_id",
    )
    .bind(seller_id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How many gigs `seller_id` holds that are not deleted.
#[instrument(skip_all, fields(seller_id = %seller_id))]
pub async fn count_live_gigs_of_seller(tx: &mut Tx, seller_id: UserId) -> Result<u64, DbError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS live_gigs FROM gigs WHERE seller_id = $1 AND state <> 'deleted'",
    )
    .bind(seller_id.to_string())
    .fetch_one(&mut **tx)
    .await?;
    let live_gigs: i64 = row.try_get("live_gigs")?;
    Ok(u64::try_from(live_gigs).unwrap_or_default())
}

/// Writes `gig` if its row is still at `expected_version` (the row moves to the next
/// version); returns whether it did.
#[instrument(skip_all, fields(gig_id = %gig.id))]
pub async fn update_gig(tx: &mut Tx, gig: &Gig, expected_version: i64) -> Result<bool, DbError> {
    let query = sqlx::query(
        "UPDATE gigs SET slug = $1, title = $2, description = $3, category_id = $4, \
         subcategory_id = $5, content = $6, state = $7, moderation_state = $8, \
         moderation_reason = $9, rating = $10, rating_count = $11, updated_at = $12, \
         published_at = $13, version = version + 1 \
         WHERE id = $14 AND version = $15",
    );
    let result = bind_written_columns(query, gig)?
        .bind(gig.updated_at)
        .bind(gig.published_at)
        .bind(gig.id.to_string())
        .bind(expected_version)
        .execute(&mut **tx)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// `query` with the columns every write of a gig sets, bound in the order both
/// [`insert_gig`] and [`update_gig`] list them: slug, title, description, category_id,
/// subcategory_id, content, state, moderation_state, moderation_reason, rating,
/// rating_count.
fn bind_written_columns<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    gig: &Gig,
) -> Result<Query<'q, Any, AnyArguments<'q>>, DbError> {
    Ok(query
        .bind(gig.slug.clone())
        .bind(gig.content.title.clone())
        .bind(gig.content.description.clone())
        .bind(gig.content.category_id.clone())
        .bind(gig.content.subcategory_id.clone())
        .bind(encode_lists(&gig.content.lists)?)
        .bind(gig.state.as_str())
        .bind(gig.moderation.as_str())
        .bind(gig.moderation_reason.clone())
        .bind(gig.rating.average)
        .bind(gig.rating.count))
}

/// Moves a gig to its next version without changing it otherwise (its seller summary or
/// ratings changed, and its snapshot is emitted again); returns whether the gig exists.
#[instrument(skip_all, fields(gig_id = %gig_id))]
pub async fn bump_version(tx: &mut Tx, gig_id: GigId) -> Result<bool, DbError> {
    let result = sqlx::query("UPDATE gigs SET version = version + 1 WHERE id = $1")
        .bind(gig_id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// The gig with `gig_id`, in any state.
#[instrument(skip_all, fields(gig_id = %gig_id))]
pub async fn find_gig<'c>(
    executor: impl AnyExecutor<'c>,
    gig_id: GigId,
) -> Result<Option<StoredGig>, DbError> {
    let row = sqlx::query(&format!("{GIG_SELECT} {GIG_FROM} WHERE g.id = $1"))
        .bind(gig_id.to_string())
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(stored_gig_from_row).transpose()
}

/// The gig with `slug`, in any state.
#[instrument(skip_all)]
pub async fn find_gig_by_slug<'c>(
    executor: impl AnyExecutor<'c>,
    slug: &str,
) -> Result<Option<StoredGig>, DbError> {
    let row = sqlx::query(&format!("{GIG_SELECT} {GIG_FROM} WHERE g.slug = $1"))
        .bind(slug.to_owned())
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(stored_gig_from_row).transpose()
}

/// The slugs other gigs than `except` hold that are `base` or `base-<suffix>`.
#[instrument(skip_all)]
pub async fn taken_slugs<'c>(
    executor: impl AnyExecutor<'c>,
    base: &str,
    except: GigId,
) -> Result<Vec<String>, DbError> {
    // Slugs hold only [a-z0-9-], so the base has no LIKE wildcards to escape.
    let rows = sqlx::query("SELECT slug FROM gigs WHERE (slug = $1 OR slug LIKE $2) AND id <> $3")
        .bind(base.to_owned())
        .bind(format!("{base}-%"))
        .bind(except.to_string())
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(|row| row.try_get::<String, _>("slug").map_err(DbError::from))
        .collect()
}

/// A page of `seller_id`'s gigs, newest first, after the gig `after`.
#[instrument(skip_all, fields(seller_id = %seller_id))]
pub async fn list_seller_gigs<'c>(
    executor: impl AnyExecutor<'c>,
    seller_id: UserId,
    which: SellerGigs,
    after: Option<GigId>,
    limit: u32,
) -> Result<Vec<StoredGig>, DbError> {
    let condition = match which {
        SellerGigs::AllButDeleted => "g.state <> 'deleted'",
        SellerGigs::Public => PUBLIC_CONDITION,
    };
    let keyset = if after.is_some() { "AND g.id < $3" } else { "" };
    let sql = format!(
        "{GIG_SELECT} {GIG_FROM} WHERE g.seller_id = $1 AND {condition} {keyset} \
         ORDER BY g.id DESC LIMIT $2"
    );
    let mut query = sqlx::query(&sql)
        .bind(seller_id.to_string())
        .bind(i64::from(limit));
    if let Some(after) = after {
        query = query.bind(after.to_string());
    }
    let rows = query.fetch_all(executor).await?;
    rows.iter().map(stored_gig_from_row).collect()
}

/// At most `limit` of `seller_id`'s gigs that are not deleted, those buyers can see first
/// (then newest first): the gigs whose snapshots follow a change of the seller.
#[instrument(skip_all, fields(seller_id = %seller_id))]
pub async fn live_gigs_of_seller(
    tx: &mut Tx,
    seller_id: UserId,
    limit: u32,
) -> Result<Vec<StoredGig>, DbError> {
    let sql = format!(
        "{GIG_SELECT} {GIG_FROM} WHERE g.seller_id = $1 AND g.state <> 'deleted' \
         ORDER BY CASE WHEN g.state = 'active' AND g.moderation_state = 'approved' \
         THEN 0 ELSE 1 END, g.id DESC LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(seller_id.to_string())
        .bind(i64::from(limit))
        .fetch_all(&mut **tx)
        .await?;
    rows.iter().map(stored_gig_from_row).collect()
}

/// Saves `gig_id` for `user_id` at `now`; saving again keeps the first time.
#[instrument(skip_all, fields(gig_id = %gig_id))]
pub async fn save_gig(
    tx: &mut Tx,
    user_id: UserId,
    gig_id: GigId,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO saved_gigs (user_id, gig_id, saved_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, gig_id) DO NOTHING",
    )
    .bind(user_id.to_string())
    .bind(gig_id.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Forgets that `user_id` saved `gig_id`, if they did.
#[instrument(skip_all, fields(gig_id = %gig_id))]
pub async fn unsave_gig<'c>(
    executor: impl AnyExecutor<'c>,
    user_id: UserId,
    gig_id: GigId,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM saved_gigs WHERE user_id = $1 AND gig_id = $2")
        .bind(user_id.to_string())
        .bind(gig_id.to_string())
        .execute(executor)
        .await?;
    Ok(())
}

/// A page of the gigs `user_id` saved that are still visible, most recently saved first,
/// after the position `after` (save time and gig id); each with its save time.
#[instrument(skip_all)]
pub async fn list_saved_gigs<'c>(
    executor: impl AnyExecutor<'c>,
    user_id: UserId,
    after: Option<(i64, GigId)>,
    limit: u32,
) -> Result<Vec<(i64, StoredGig)>, DbError> {
    let keyset = if after.is_some() {
        "AND (sg.saved_at < $3 OR (sg.saved_at = $4 AND sg.gig_id < $5))"
    } else {
        ""
    };
    let sql = format!(
        "{GIG_SELECT}, sg.saved_at FROM saved_gigs sg JOIN gigs g ON g.id = sg.gig_id \
         LEFT JOIN sellers s ON s.user_id = g.seller_id \
         WHERE sg.user_id = $1 AND {PUBLIC_CONDITION} {keyset} \
         ORDER BY sg.saved_at DESC, sg.gig_id DESC LIMIT $2"
    );
    let mut query = sqlx::query(&sql)
        .bind(user_id.to_string())
        .bind(i64::from(limit));
    if let Some((saved_at, gig_id)) = after {
        query = query.bind(saved_at).bind(saved_at).bind(gig_id.to_string());
    }
    let rows = query.fetch_all(executor).await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get::<i64, _>("saved_at")?,
                stored_gig_from_row(row)?,
            ))
        })
        .collect()
}

/// The summary kept for `user_id`.
#[instrument(skip_all, fields(user_id = %user_id))]
pub async fn find_seller(tx: &mut Tx, user_id: UserId) -> Result<Option<SellerSummary>, DbError> {
    let row = sqlx::query(
        "SELECT username AS seller_username, display_name AS seller_display_name, \
         avatar_url AS seller_avatar_url, country AS seller_country, \
         languages AS seller_languages, rating AS seller_rating, \
         rating_count AS seller_rating_count, suspended AS seller_suspended \
         FROM sellers WHERE user_id = $1",
    )
    .bind(user_id.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(seller_from_row).transpose()
}

/// Writes the seller summary of `user_id` (inserted or replaced whole).
#[instrument(skip_all, fields(user_id = %user_id))]
pub async fn write_seller(
    tx: &mut Tx,
    user_id: UserId,
    seller: &SellerSummary,
    now: i64,
) -> Result<(), DbError> {
    let languages = serde_json::to_string(&seller.languages).map_err(encode_error)?;
    sqlx::query(
        "INSERT INTO sellers (user_id, username, display_name, avatar_url, country, languages, \
         rating, rating_count, suspended, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (user_id) DO UPDATE SET username = excluded.username, \
         display_name = excluded.display_name, avatar_url = excluded.avatar_url, \
         country = excluded.country, languages = excluded.languages, \
         rating = excluded.rating, rating_count = excluded.rating_count, \
         suspended = excluded.suspended, updated_at = excluded.updated_at",
    )
    .bind(user_id.to_string())
    .bind(seller.username.clone())
    .bind(seller.display_name.clone())
    .bind(seller.avatar_url.clone())
    .bind(seller.country.clone())
    .bind(languages)
    .bind(seller.rating.average)
    .bind(seller.rating.count)
    .bind(seller.suspended)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn stored_gig_from_row(row: &AnyRow) -> Result<StoredGig, DbError> {
    let id: String = row.try_get("id")?;
    let seller_id: String = row.try_get("seller_id")?;
    let content: String = row.try_get("content")?;
    let lists: GigLists = serde_json::from_str(&content).map_err(decode_error)?;
    let state: String = row.try_get("state")?;
    let moderation: String = row.try_get("moderation_state")?;
    let gig = Gig {
        id: GigId::from(parse_uuid(&id)?),
        seller_id: UserId::from(parse_uuid(&seller_id)?),
        slug: row.try_get("slug")?,
        content: GigContent {
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            category_id: row.try_get("category_id")?,
            subcategory_id: row.try_get("subcategory_id")?,
            lists,
        },
        state: GigState::from_stored(&state)
            .ok_or_else(|| decode_error(UnknownName(state.clone())))?,
        moderation: Moderation::from_stored(&moderation)
            .ok_or_else(|| decode_error(UnknownName(moderation.clone())))?,
        moderation_reason: row.try_get("moderation_reason")?,
        rating: Rating {
            average: row.try_get("rating")?,
            count: row.try_get("rating_count")?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        published_at: row.try_get("published_at")?,
    };
    let seller_user_id: Option<String> = row.try_get("seller_user_id")?;
    let seller = match seller_user_id {
        None => None,
        Some(_) => Some(seller_from_row(row)?),
    };
    Ok(StoredGig {
        view: GigView { gig, seller },
        version: row.try_get("version")?,
    })
}

/// A seller summary from the `seller_`-prefixed columns of a row (a gig row joined with
/// its seller, or a seller row read with those aliases).
fn seller_from_row(row: &AnyRow) -> Result<SellerSummary, DbError> {
    let languages: String = row.try_get("seller_languages")?;
    Ok(SellerSummary {
        username: row.try_get("seller_username")?,
        display_name: row.try_get("seller_display_name")?,
        avatar_url: row.try_get("seller_avatar_url")?,
        country: row.try_get("seller_country")?,
        languages: serde_json::from_str(&languages).map_err(decode_error)?,
        rating: Rating {
            average: row.try_get("seller_rating")?,
            count: row.try_get("seller_rating_count")?,
        },
        suspended: gigmesh_db::get_bool(row, "seller_suspended")?,
    })
}

/// A state or moderation name the code does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown stored name {0:?}")]
struct UnknownName(String);

fn encode_lists(lists: &GigLists) -> Result<String, DbError> {
    serde_json::to_string(lists).map_err(encode_error)
}

fn parse_uuid(raw: &str) -> Result<Uuid, DbError> {
    Uuid::parse_str(raw).map_err(decode_error)
}

fn encode_error(error: serde_json::Error) -> DbError {
    DbError::from(SqlxError::Encode(Box::new(error)))
}

fn decode_error(error: impl std::error::Error + Send + Sync + 'static) -> DbError {
    DbError::from(SqlxError::Decode(Box::new(error)))
}
