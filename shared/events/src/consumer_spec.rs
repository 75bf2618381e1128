//! A consumer described before it is subscribed, so a process can start it in the
//! background and keep trying while the bus is not reachable yet.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gigmesh_db::Db;
use tokio_util::sync::CancellationToken;

use crate::bus::{BusError, SharedBus};
use crate::consumer::{Consumer, EventHandler};
use crate::task::BackgroundTask;

/// First pause before subscribing again after a failure.
const SUBSCRIBE_RETRY_BASE: Duration = Duration::from_millis(200);
/// Longest pause between subscription attempts.
const SUBSCRIBE_RETRY_MAX: Duration = Duration::from_secs(10);

/// Everything a [`Consumer`] is made of. [`ConsumerSpec::subscribe`] makes one now (tests
/// step it with `poll_once`); as a [`BackgroundTask`] it subscribes when it starts,
/// retrying with backoff while the broker cannot be reached, then runs until shutdown.
#[derive(Clone)]
pub struct ConsumerSpec {
    name: String,
    db: Db,
    bus: SharedBus,
    topics: Vec<String>,
    handler: Arc<dyn EventHandler>,
    max_attempts: Option<u32>,
}

impl std::fmt::Debug for ConsumerSpec {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ConsumerSpec")
            .field("name", &self.name)
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

impl ConsumerSpec {
    /// Consumer group `name` (also its inbox name; keep it stable) reading `topics` into the
    /// service database `db` through `handler`.
    pub fn new(
        name: &str,
        db: Db,
        bus: SharedBus,
        topics: &[&str],
        handler: Arc<dyn EventHandler>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            db,
            bus,
            topics: topics.iter().map(|topic| (*topic).to_owned()).collect(),
            handler,
            max_attempts: None,
        }
    }

    /// Handler attempts before an event is dead-lettered.
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = Some(max_attempts);
        self
    }

    /// Subscribes now.
    pub async fn subscribe(&self) -> Result<Consumer, BusError> {
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        let consumer = Consumer::new(
            &self.name,
            self.db.clone(),
            self.bus.clone(),
            &topics,
            self.handler.clone(),
        )
        .await?;
        Ok(match self.max_attempts {
            Some(max_attempts) => consumer.with_max_attempts(max_attempts),
            None => consumer,
        })
    }
}

#[async_trait]
impl BackgroundTask for ConsumerSpec {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) {
        let mut pause = SUBSCRIBE_RETRY_BASE;
        loop {
            match self.subscribe().await {
                Ok(consumer) => return consumer.run(shutdown).await,
                Err(error) => tracing::warn!(
                    consumer = %self.name,
                    error = %error,
                    "cannot subscribe the event consumer yet"
                ),
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(SUBSCRIBE_RETRY_MAX);
        }
    }
}
