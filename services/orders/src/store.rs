//! Order, timeline and gig read-model persistence: portable SQL over `sqlx::Any`, run on
//! SQLite and PostgreSQL alike.
//!
//! Changes use optimistic concurrency: every order row carries a `version` (one per
//! timeline entry), and an update only applies to the version that was read, so an RPC, an
//! event and a timer racing on one order — on one replica or several — cannot both apply.
//! Lists are paged by keyset (create time and id, newest first), never by offset.

use gigmesh_db::{DbError, Tx};
use gigmesh_types::{GigId, OrderId, UserId};
use sqlx::any::{AnyExecutor, AnyRow};
use sqlx::{Error as SqlxError, Row};
use tracing::instrument;
use uuid::Uuid;

use crate::domain::{GigSnapshot, Group, Order, OrderPosition, Role, TimelineEntry};

/// An order and the version it was read at.
#[derive(Debug, Clone)]
pub struct StoredOrder {
    /// The order.
    pub order: Order,
    /// Version of the row, to be passed back to [`update_order`].
    pub version: i64,
}

const ORDER_COLUMNS: &str = "id, buyer_id, seller_id, gig_id, request_id, create_time, terms, \
     progress, version";

/// Inserts a new order at the version of its timeline (1 for a placed order).
#[instrument(skip_all, fields(order_id = %order.id))]
pub async fn insert_order(tx: &mut Tx, order: &Order, now: i64) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO orders (id, buyer_id, seller_id, gig_id, request_id, state, due_time, \
         disputed, next_timer_at, terms, progress, version, create_time, update_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(order.id.to_string())
    .bind(order.buyer_id.to_string())
    .bind(order.seller_id.to_string())
    .bind(order.gig_id.to_string())
    .bind(order.request_id.clone())
    .bind(order.state().as_str())
    .bind(order.progress.due_time)
    .bind(order.progress.disputed)
    .bind(order.next_timer_time())
    .bind(encode(&order.terms)?)
    .bind(encode(&order.progress)?)
    .bind(order.progress.timeline_length)
    .bind(order.create_time)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes `order` if its row is still at `expected_version`; the row moves to the version
/// of the order's timeline. Returns whether it did.
#[instrument(skip_all, fields(order_id = %order.id))]
pub async fn update_order(
    tx: &mut Tx,
    order: &Order,
    expected_version: i64,
    now: i64,
) -> Result<bool, DbError> {
    let result = sqlx::query(
        "UPDATE orders SET state = $1, due_time = $2, disputed = $3, next_timer_at = $4, \
         progress = $5, version = $6, update_time = $7 WHERE id = $8 AND version = $9",
    )
    .bind(order.state().as_str())
    .bind(order.progress.due_time)
    .bind(order.progress.disputed)
    .bind(order.next_timer_time())
    .bind(encode(&order.progress)?)
    .bind(order.progress.timeline_length)
    .bind(now)
    .bind(order.id.to_string())
    .bind(expected_version)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Appends timeline entries of `order_id`.
#[instrument(skip_all, fields(order_id = %order_id))]
pub async fn insert_entries(
    tx: &mut Tx,
    order_id: OrderId,
    entries: &[&TimelineEntry],
) -> Result<(), DbError> {
    for entry in entries {
        sqlx::query(
            "INSERT INTO order_timeline (order_id, sequence, kind, entry, create_time) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(order_id.to_string())
        .bind(entry.sequence)
        .bind(entry.kind.as_str())
        .bind(encode(entry)?)
        .bind(entry.time)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The order with `order_id`.
#[instrument(skip_all, fields(order_id = %order_id))]
pub async fn find_order<'c>(
    executor: impl AnyExecutor<'c>,
    order_id: OrderId,
) -> Result<Option<StoredOrder>, DbError> {
    let row = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
        .bind(order_id.to_string())
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(stored_order_from_row).transpose()
}

/// The order `buyer_id` placed with `request_id`.
#[instrument(skip_all, fields(buyer_id = %buyer_id))]
pub async fn find_order_by_request<'c>(
    executor: impl AnyExecutor<'c>,
    buyer_id: UserId,
    request_id: &str,
) -> Result<Option<StoredOrder>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE buyer_id = $1 AND request_id = $2"
    ))
    .bind(buyer_id.to_string())
    .bind(request_id.to_owned())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(stored_order_from_row).transpose()
}

/// The timeline of `order_id`, oldest first.
#[instrument(skip_all, fields(order_id = %order_id))]
pub async fn timeline<'c>(
    executor: impl AnyExecutor<'c>,
    order_id: OrderId,
) -> Result<Vec<TimelineEntry>, DbError> {
    let rows =
        sqlx::query("SELECT entry FROM order_timeline WHERE order_id = $1 ORDER BY sequence")
            .bind(order_id.to_string())
            .fetch_all(executor)
            .await?;
    rows.iter()
        .map(|row| {
            let entry: String = row.try_get("entry")?;
            decode(&entry)
        })
        .collect()
}

/// A page of `user_id`'s orders as `role` in `group`, newest first (create time, then id),
/// after the position `after`; `now` decides which orders in progress are late.
#[instrument(skip_all, fields(user_id = %user_id))]
pub async fn list_orders<'c>(
    executor: impl AnyExecutor<'c>,
    user_id: UserId,
    role: Role,
    group: Group,
    now: i64,
    after: Option<OrderPosition>,
    limit: u32,
) -> Result<Vec<StoredOrder>, DbError> {
    let party_column = match role {
        Role::Buyer => "buyer_id",
        Role::Seller => "seller_id",
    };
    let mut next_parameter = 3;
    let mut parameter = || {
        let name = format!("${next_parameter}");
        next_parameter += 1;
        name
    };
    let group_condition = match group {
        Group::All => String::new(),
        Group::Active => {
            "AND state IN ('awaiting_payment', 'requirements_pending', 'in_progress')".to_owned()
        }
        Group::Late => format!("AND state = 'in_progress' AND due_time <= {}", parameter()),
        Group::Delivered => "AND state = 'delivered'".to_owned(),
        Group::Completed => "AND state = 'completed'".to_owned(),
        Group::Cancelled => "AND state IN ('cancelled', 'expired')".to_owned(),
        Group::Disputed => "AND disputed".to_owned(),
    };
    let keyset = match after {
        Some(_) => format!(
            "AND (create_time < {} OR (create_time = {} AND id < {}))",
            parameter(),
            parameter(),
            parameter()
        ),
        None => String::new(),
    };
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE {party_column} = $1 {group_condition} \
         {keyset} ORDER BY create_time DESC, id DESC LIMIT $2"
    );
    let mut query = sqlx::query(&sql)
        .bind(user_id.to_string())
        .bind(i64::from(limit));
    if group == Group::Late {
        query = query.bind(now);
    }
    if let Some((create_time, order_id)) = after {
        query = query
            .bind(create_time)
            .bind(create_time)
            .bind(order_id.to_string());
    }
    let rows = query.fetch_all(executor).await?;
    rows.iter().map(stored_order_from_row).collect()
}

/// Ids of at most `limit` orders whose earliest timer is due at `now`, earliest first.
#[instrument(skip_all)]
pub async fn orders_with_due_timers<'c>(
    executor: impl AnyExecutor<'c>,
    now: i64,
    limit: u32,
) -> Result<Vec<OrderId>, DbError> {
    let rows = sqlx::query(
        "SELECT id FROM orders WHERE next_timer_at <= $1 ORDER BY next_timer_at, id LIMIT $2",
    )
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            Ok(OrderId::from(parse_uuid(&id)?))
        })
        .collect()
}

/// Keeps `gig` at `version` unless a snapshot of the same or a later version is kept
/// already; returns whether it was written.
#[instrument(skip_all, fields(gig_id = %gig.id))]
pub async fn write_gig(
    tx: &mut Tx,
    gig: &GigSnapshot,
    version: i64,
    now: i64,
) -> Result<bool, DbError> {
    let result = sqlx::query(
        "INSERT INTO gigs (id, seller_id, version, snapshot, update_time) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET seller_id = excluded.seller_id, \
         version = excluded.version, snapshot = excluded.snapshot, \
         update_time = excluded.update_time \
         WHERE gigs.version < excluded.version",
    )
    .bind(gig.id.to_string())
    .bind(gig.seller_id.to_string())
    .bind(version)
    .bind(encode(gig)?)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Orders' copy of the gig with `gig_id`.
#[instrument(skip_all, fields(gig_id = %gig_id))]
pub async fn find_gig<'c>(
    executor: impl AnyExecutor<'c>,
    gig_id: GigId,
) -> Result<Option<GigSnapshot>, DbError> {
    let row = sqlx::query("SELECT id, seller_id, snapshot FROM gigs WHERE id = $1")
        .bind(gig_id.to_string())
        .fetch_optional(executor)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let snapshot: String = row.try_get("snapshot")?;
    let mut gig: GigSnapshot = decode(&snapshot)?;
    let id: String = row.try_get("id")?;
    let seller_id: String = row.try_get("seller_id")?;
    gig.id = GigId::from(parse_uuid(&id)?);
    gig.seller_id = UserId::from(parse_uuid(&seller_id)?);
    Ok(Some(gig))
}

fn stored_order_from_row(row: &AnyRow) -> Result<StoredOrder, DbError> {
    let id: String = row.try_get("id")?;
    let buyer_id: String = row.try_get("buyer_id")?;
    let seller_id: String = row.try_get("seller_id")?;
    let gig_id: String = row.try_get("gig_id")?;
    let terms: String = row.try_get("terms")?;
    let progress: String = row.try_get("progress")?;
    let order = Order {
        id: OrderId::from(parse_uuid(&id)?),
        buyer_id: UserId::from(parse_uuid(&buyer_id)?),
        seller_id: UserId::from(parse_uuid(&seller_id)?),
        gig_id: GigId::from(parse_uuid(&gig_id)?),
        request_id: row.try_get("request_id")?,
        create_time: row.try_get("create_time")?,
        terms: decode(&terms)?,
        progress: decode(&progress)?,
    };
    Ok(StoredOrder {
        order,
        version: row.try_get("version")?,
    })
}

fn encode(value: &impl serde::Serialize) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|error| DbError::from(SqlxError::Encode(Box::new(error))))
}

fn decode<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, DbError> {
    serde_json::from_str(raw).map_err(decode_error)
}

fn parse_uuid(raw: &str) -> Result<Uuid, DbError> {
    Uuid::parse_str(raw).map_err(decode_error)
}

fn decode_error(error: impl std::error::Error + Send + Sync + 'static) -> DbError {
    DbError::from(SqlxError::Decode(Box::new(error)))
}
