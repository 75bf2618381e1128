//! What the order service does, in domain types: place orders from its copy of the gig
//! (idempotent per buyer and request id), show an order to its parties and admins, change
//! it by optimistic read-modify-write (each change committed with its timeline entries and
//! `OrderChanged` events), and page through a user's orders. The proto edge is `api.rs`;
//! the SQL is `store.rs`.

use gigmesh_db::{Attempt, Db, DbError, Tx, read_modify_write};
use gigmesh_types::{Clock, GigId, OrderId, UserId};

use crate::config::Config;
use crate::domain::{
    Acting, Action, FeeSchedule, Group, OrderChoice, OrderPosition, Page, Role, Rules,
    TimelineEntry, apply, place_order,
};
use crate::error::OrdersError;
use crate::events::{record_changes, write_changes};
use crate::metrics::count_transitions;
use crate::store::{self, StoredOrder};

/// Who calls: a signed-in user, and whether they are an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// The user.
    pub user_id: UserId,
    /// Whether they hold the admin role.
    pub is_admin: bool,
}

/// A page of orders and where the next page starts (`None` on the last page).
#[derive(Debug, Clone)]
pub struct Listed {
    /// The orders of the page, newest first.
    pub orders: Vec<StoredOrder>,
    /// The create time and id of the page's last order, when more follow.
    pub next: Option<OrderPosition>,
}

/// The orders of the service's database.
#[derive(Clone)]
pub struct Orders {
    db: Db,
    clock: Clock,
    fees: FeeSchedule,
    rules: Rules,
    payment_window_millis: i64,
}

impl Orders {
    /// The orders in `db` with the service's settings, reading the time from `clock`.
    pub fn new(db: Db, config: &Config, clock: Clock) -> Self {
        Self {
            db,
            clock,
            fees: config.fees(),
            rules: config.rules(),
            payment_window_millis: config.payment_window_millis(),
        }
    }

    /// Places `buyer_id`'s order of `gig_id`, awaiting payment; the order the same buyer
    /// placed with the same request id before, if there is one (also when two attempts
    /// race: the unique request id lets one insert, the other reads its order).
    pub async fn place_order(
        &self,
        buyer_id: UserId,
        gig_id: GigId,
        choice: OrderChoice,
    ) -> Result<StoredOrder, OrdersError> {
        // A retry is found by its request id only when placing fails (the unique request id
        // refuses the second insert, or the gig changed since): the first attempt, by far the
        // common case, pays no lookup for it.
        let now = self.clock.now_millis();
        let placed = match store::find_gig(self.db.pool(), gig_id).await? {
            Some(gig) => place_order(
                &gig,
                buyer_id,
                &choice,
                &self.fees,
                now,
                self.payment_window_millis,
            ),
            None => Err(OrdersError::GigNotFound(gig_id.to_string())),
        };
        let change = match placed {
            Ok(change) => change,
            Err(error) => {
                return match store::find_order_by_request(
                    self.db.pool(),
                    buyer_id,
                    &choice.request_id,
                )
                .await?
                {
                    Some(existing) => Ok(existing),
                    None => Err(error),
                };
            }
        };
        let mut tx = self.db.begin().await?;
        match store::insert_order(&mut tx, &change.order, now).await {
            Err(error) if error.is_unique_violation_on("request_id") => {
                drop(tx);
                return store::find_order_by_request(self.db.pool(), buyer_id, &choice.request_id)
                    .await?
                    .ok_or_else(|| {
                        OrdersError::Internal(anyhow::anyhow!(
                            "an order with the request id exists and cannot be read"
                        ))
                    });
            }
            other => other?,
        }
        let changes = [change];
        record_changes(&mut tx, &changes).await?;
        tx.commit().await.map_err(DbError::from)?;
        count_transitions(&changes);
        let [change] = changes;
        tracing::info!(order_id = %change.order.id, gig_id = %gig_id, "order placed");
        Ok(StoredOrder {
            version: change.entry.sequence,
            order: change.order,
        })
    }

    /// The order with `order_id` and its timeline, if `viewer` is its buyer, its seller or
    /// an admin.
    pub async fn visible_order(
        &self,
        viewer: Viewer,
        order_id: OrderId,
    ) -> Result<(StoredOrder, Vec<TimelineEntry>), OrdersError> {
        let stored = store::find_order(self.db.pool(), order_id)
            .await?
            .filter(|stored| {
                stored
                    .order
                    .party_of(viewer.user_id, viewer.is_admin)
                    .is_some()
            })
            .ok_or_else(|| OrdersError::OrderNotFound(order_id.to_string()))?;
        let timeline = store::timeline(self.db.pool(), order_id).await?;
        Ok((stored, timeline))
    }

    /// Applies `action` of `viewer` to the order: the order after it. An order the viewer
    /// is no party of (nor an admin) does not exist for them.
    pub async fn act(
        &self,
        viewer: Viewer,
        order_id: OrderId,
        action: Action,
    ) -> Result<StoredOrder, OrdersError> {
        let now = self.clock.now_millis();
        let rules = self.rules;
        let (stored, changes) = read_modify_write(&self.db, |tx| {
            Box::pin(try_act(tx, viewer, order_id, action.clone(), now, rules))
        })
        .await?;
        count_transitions(&changes);
        if let Some(change) = changes.last() {
            tracing::info!(
                order_id = %order_id,
                change = change.entry.kind.as_str(),
                state = change.order.state().as_str(),
                "order changed"
            );
        }
        Ok(stored)
    }

    /// A page of `user_id`'s orders as `role` in `group`, newest first.
    pub async fn list(
        &self,
        user_id: UserId,
        role: Role,
        group: Group,
        page: Page<OrderPosition>,
    ) -> Result<Listed, OrdersError> {
        let now = self.clock.now_millis();
        let mut orders = store::list_orders(
            self.db.pool(),
            user_id,
            role,
            group,
            now,
            page.after,
            page.size + 1,
        )
        .await?;
        let more = orders.len() > page.size as usize;
        orders.truncate(page.size as usize);
        let next = if more {
            orders
                .last()
                .map(|stored| (stored.order.create_time, stored.order.id))
        } else {
            None
        };
        Ok(Listed { orders, next })
    }
}

/// One attempt at reading the order, applying the action and writing it back at the
/// version that was read.
async fn try_act(
    tx: &mut Tx,
    viewer: Viewer,
    order_id: OrderId,
    action: Action,
    now: i64,
    rules: Rules,
) -> Result<Attempt<(StoredOrder, Vec<crate::domain::Change>)>, OrdersError> {
    let not_found = || OrdersError::OrderNotFound(order_id.to_string());
    let stored = store::find_order(&mut **tx, order_id)
        .await?
        .ok_or_else(not_found)?;
    let actor = stored
        .order
        .party_of(viewer.user_id, viewer.is_admin)
        .ok_or_else(not_found)?;
    let acting = Acting {
        actor,
        user_id: Some(viewer.user_id),
        now,
    };
    let changes = apply(&stored.order, acting, action, &rules)?;
    if !write_changes(tx, &stored, &changes, now).await? {
        return Ok(Attempt::Conflict);
    }
    let Some(last) = changes.last() else {
        return Ok(Attempt::Unchanged((stored, changes)));
    };
    let written = StoredOrder {
        order: last.order.clone(),
        version: last.entry.sequence,
    };
    Ok(Attempt::Commit((written, changes)))
}
