//! The timer loop: pending offers past their expiry expire (each by optimistic
//! read-modify-write, so an answer racing the timer, or two replicas' loops, apply once),
//! and sellers whose response time was measured more than an hour ago are measured again,
//! as the 30-day window slides and unanswered first messages keep waiting.

use std::time::Duration;

use async_trait::async_trait;
use gigmesh_db::{Db, DbError};
use gigmesh_events::BackgroundTask;
use gigmesh_types::Clock;
use tokio_util::sync::CancellationToken;

use crate::error::ChatError;
use crate::store;
use crate::use_cases::{Chat, remeasure};

/// How old a seller's measure may get before the loop measures again: an hour.
const REMEASURE_AFTER_MILLIS: i64 = 3_600_000;

/// What one run of the loop did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerRun {
    /// Offers expired.
    pub expired_offers: usize,
    /// Sellers measured again.
    pub remeasured_sellers: usize,
}

/// The loop of the chat service's timers.
#[derive(Clone)]
pub struct TimerLoop {
    chat: Chat,
    db: Db,
    clock: Clock,
    batch_size: u32,
    interval: Duration,
}

impl TimerLoop {
    /// A loop over `chat` and its `db`, reading the time from `clock`, handling at most
    /// `batch_size` offers and sellers per run, every `interval`.
    pub fn new(chat: Chat, db: Db, clock: Clock, batch_size: u32, interval: Duration) -> Self {
        Self {
            chat,
            db,
            clock,
            batch_size: batch_size.max(1),
            interval,
        }
    }

    /// Expires the due offers and measures the sellers whose measure is old.
    pub async fn run_once(&self) -> Result<TimerRun, ChatError> {
        let expired_offers = self.chat.expire_due_offers(self.batch_size).await?;
        let now = self.clock.now_millis();
        let sellers = store::response_times::sellers_to_remeasure(
            self.db.pool(),
            now - REMEASURE_AFTER_MILLIS,
            self.batch_size,
        )
        .await?;
        for seller_id in &sellers {
            let mut tx = self.db.begin().await?;
            remeasure(&mut tx, *seller_id, now).await?;
            tx.commit().await.map_err(DbError::from)?;
        }
        Ok(TimerRun {
            expired_offers,
            remeasured_sellers: sellers.len(),
        })
    }
}

#[async_trait]
impl BackgroundTask for TimerLoop {
    fn name(&self) -> &str {
        "chat.timers"
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.run_once().await {
                tracing::warn!(error = %error, "chat timer run failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }
}
