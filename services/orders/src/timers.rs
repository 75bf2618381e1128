//! The timer loop: orders whose earliest timer is due (`next_timer_at` at or before the
//! clock's now) get their due timers applied — expiry, the late flag, auto-completion,
//! requests accepting themselves — as the system, each order by optimistic
//! read-modify-write. With several replicas every loop may pick the same order; only the
//! first write at the version read applies, the others re-read and find nothing due, so a
//! timer applies once, and a timer racing an RPC or an event cannot both apply.

use std::time::Duration;

use async_trait::async_trait;
use gigmesh_db::{Attempt, Db, Tx, read_modify_write};
use gigmesh_events::BackgroundTask;
use gigmesh_types::{Clock, OrderId};
use tokio_util::sync::CancellationToken;

use crate::domain::{Change, apply_due_timers};
use crate::error::OrdersError;
use crate::events::write_changes;
use crate::metrics::count_transitions;
use crate::store;

/// The loop applying due timers.
#[derive(Clone)]
pub struct TimerLoop {
    db: Db,
    clock: Clock,
    batch_size: u32,
    interval: Duration,
}

impl TimerLoop {
    /// A loop over `db` reading the time from `clock`, looking at most `batch_size` orders
    /// at a time, every `interval`.
    pub fn new(db: Db, clock: Clock, batch_size: u32, interval: Duration) -> Self {
        Self {
            db,
            clock,
            batch_size: batch_size.max(1),
            interval,
        }
    }

    /// Applies every timer due at the clock's now, in batches of orders; returns how many
    /// it applied. An order that cannot be changed now (it kept losing races, the database
    /// failed on it) is left for the next run.
    pub async fn run_once(&self) -> Result<usize, OrdersError> {
        let now = self.clock.now_millis();
        let mut applied = 0;
        loop {
            let due = store::orders_with_due_timers(self.db.pool(), now, self.batch_size).await?;
            let mut applied_in_batch = 0;
            for order_id in &due {
                match self.apply_timers_of(*order_id, now).await {
                    Ok(changes) => {
                        count_transitions(&changes);
                        applied_in_batch += changes.len();
                    }
                    Err(error) => {
                        tracing::warn!(order_id = %order_id, error = %error, "order timers not applied");
                    }
                }
            }
            applied += applied_in_batch;
            if due.len() < self.batch_size as usize || applied_in_batch == 0 {
                break;
            }
        }
        if applied > 0 {
            tracing::info!(applied, "order timers applied");
        }
        Ok(applied)
    }

    async fn apply_timers_of(
        &self,
        order_id: OrderId,
        now: i64,
    ) -> Result<Vec<Change>, OrdersError> {
        read_modify_write(&self.db, |tx| Box::pin(try_apply_timers(tx, order_id, now))).await
    }
}

/// One attempt at applying the due timers of one order.
async fn try_apply_timers(
    tx: &mut Tx,
    order_id: OrderId,
    now: i64,
) -> Result<Attempt<Vec<Change>>, OrdersError> {
    let Some(stored) = store::find_order(&mut **tx, order_id).await? else {
        return Ok(Attempt::Unchanged(Vec::new()));
    };
    let changes = apply_due_timers(&stored.order, now);
    if changes.is_empty() {
        return Ok(Attempt::Unchanged(changes));
    }
    if !write_changes(tx, &stored, &changes, now).await? {
        return Ok(Attempt::Conflict);
    }
    Ok(Attempt::Commit(changes))
}

#[async_trait]
impl BackgroundTask for TimerLoop {
    fn name(&self) -> &str {
        "orders.timers"
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.run_once().await {
                tracing::warn!(error = %error, "order timer run failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }
}
