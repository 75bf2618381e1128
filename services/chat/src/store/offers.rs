//! Custom offers: inserted pending at version 1, changed only at the version that was read,
//! and found by the expiry timer once pending past their expiry.

use gigmesh_db::{DbError, Tx};
use gigmesh_types::{Currency, Money, OfferId};
use sqlx::Row;
use sqlx::any::{AnyExecutor, AnyRow};
use tracing::instrument;

use super::{id_column, limit, optional_id_column, placeholders, small_int, unreadable};
use crate::domain::offer::{CustomOffer, OfferState};

const OFFER_COLUMNS: &str = "id, conversation_id, seller_id, buyer_id, gig_id, description, \
     price_minor, currency, delivery_days, revisions, expire_time, state, order_id, \
     create_time, close_time, version";

/// Inserts a new offer.
#[instrument(skip_all, fields(offer_id = %offer.id))]
pub async fn insert_offer(tx: &mut Tx, offer: &CustomOffer) -> Result<(), DbError> {
    sqlx::query(&format!(
        "INSERT INTO custom_offers ({OFFER_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    ))
    .bind(offer.id.to_string())
    .bind(offer.conversation_id.to_string())
    .bind(offer.seller_id.to_string())
    .bind(offer.buyer_id.to_string())
    .bind(offer.gig_id.to_string())
    .bind(offer.description.clone())
    .bind(offer.price.amount_minor)
    .bind(offer.price.currency.code())
    .bind(i64::from(offer.delivery_days))
    .bind(i64::from(offer.revisions))
    .bind(offer.expire_time)
    .bind(offer.state.as_str())
    .bind(offer.order_id.map(|id| id.to_string()))
    .bind(offer.create_time)
    .bind(offer.close_time)
    .bind(offer.version)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes `offer`'s state, order and close time if its row is still at `expected_version`;
/// the row moves to `offer.version`. Returns whether it did.
#[instrument(skip_all, fields(offer_id = %offer.id))]
pub async fn update_offer(
    tx: &mut Tx,
    offer: &CustomOffer,
    expected_version: i64,
) -> Result<bool, DbError> {
    let result = sqlx::query(
        "UPDATE custom_offers SET state = $1, order_id = $2, close_time = $3, version = $4 \
         WHERE id = $5 AND version = $6",
    )
    .bind(offer.state.as_str())
    .bind(offer.order_id.map(|id| id.to_string()))
    .bind(offer.close_time)
    .bind(offer.version)
    .bind(offer.id.to_string())
    .bind(expected_version)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The offer with `offer_id`.
#[instrument(skip_all, fields(offer_id = %offer_id))]
pub async fn find_offer<'c>(
    executor: impl AnyExecutor<'c>,
    offer_id: OfferId,
) -> Result<Option<CustomOffer>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {OFFER_COLUMNS} FROM custom_offers WHERE id = $1"
    ))
    .bind(offer_id.to_string())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(offer_from_row).transpose()
}

/// The offers with these ids (those that exist), in no particular order.
#[instrument(skip_all, fields(count = offer_ids.len()))]
pub async fn find_offers<'c>(
    executor: impl AnyExecutor<'c>,
    offer_ids: &[OfferId],
) -> Result<Vec<CustomOffer>, DbError> {
    if offer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {OFFER_COLUMNS} FROM custom_offers WHERE id IN ({})",
        placeholders(1, offer_ids.len())
    );
    let mut query = sqlx::query(&sql);
    for id in offer_ids {
        query = query.bind(id.to_string());
    }
    let rows = query.fetch_all(executor).await?;
    rows.iter().map(offer_from_row).collect()
}

/// Up to `batch` pending offers whose expiry is at or before `now`, the earliest first.
#[instrument(skip_all)]
pub async fn due_offers<'c>(
    executor: impl AnyExecutor<'c>,
    now: i64,
    batch: u32,
) -> Result<Vec<CustomOffer>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {OFFER_COLUMNS} FROM custom_offers WHERE state = $1 AND expire_time <= $2 \
         ORDER BY expire_time LIMIT $3"
    ))
    .bind(OfferState::Pending.as_str())
    .bind(now)
    .bind(limit(batch))
    .fetch_all(executor)
    .await?;
    rows.iter().map(offer_from_row).collect()
}

fn offer_from_row(row: &AnyRow) -> Result<CustomOffer, DbError> {
    let id: OfferId = id_column(row, "id")?;
    let currency: String = row.try_get("currency")?;
    let currency = Currency::from_code(&currency)
        .ok_or_else(|| unreadable(format!("offer {id} has currency {currency}")))?;
    let state: String = row.try_get("state")?;
    let state = OfferState::from_name(&state)
        .ok_or_else(|| unreadable(format!("offer {id} has state {state}")))?;
    Ok(CustomOffer {
        id,
        conversation_id: id_column(row, "conversation_id")?,
        seller_id: id_column(row, "seller_id")?,
        buyer_id: id_column(row, "buyer_id")?,
        gig_id: id_column(row, "gig_id")?,
        description: row.try_get("description")?,
        price: Money::new(row.try_get("price_minor")?, currency),
        delivery_days: small_int(row, "delivery_days")?,
        revisions: small_int(row, "revisions")?,
        expire_time: row.try_get("expire_time")?,
        state,
        order_id: optional_id_column(row, "order_id")?,
        create_time: row.try_get("create_time")?,
        close_time: row.try_get("close_time")?,
        version: row.try_get("version")?,
    })
}
