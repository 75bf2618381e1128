//! A consumer described before it is subscribed, so a process can start it in the
//! background and keep trying while the bus is not reachable yet.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gigmesh_db::Db;
use tokio_util::sync::CancellationToken;

use crate::bus::{BusError, SharedBus, TopicLag};
use crate::consumer::{Consumer, EventHandler};
use crate::metrics;
use crate::task::BackgroundTask;

/// First pause before subscribing again after a failure.
const SUBSCRIBE_RETRY_BASE: Duration = Duration::from_millis(200);
/// Longest pause between subscription attempts.
const SUBSCRIBE_RETRY_MAX: Duration = Duration::from_secs(10);
/// How often a running consumer measures its group's lag: about one Prometheus scrape.
const LAG_REPORT_INTERVAL: Duration = Duration::from_secs(15);

/// Everything a [`Consumer`] is made of. [`ConsumerSpec::subscribe`] makes one now (tests
/// step it with `poll_once`); as a [`BackgroundTask`] it subscribes when it starts,
/// retrying with backoff while the broker cannot be reached, then runs until shutdown,
/// measuring its group's lag ([`ConsumerSpec::report_lag`]) every 15 seconds meanwhile.
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

    /// Measures how far the group is behind on each topic and sets the
    /// `gigmesh_events_consumer_lag` gauge. The lag is the group's, not this replica's:
    /// every replica reports the same value, and a lag that stays above zero while the
    /// consumer runs means the group is stuck (a poison event being retried, a partition
    /// nobody was given).
    pub async fn report_lag(&self) -> Result<Vec<TopicLag>, BusError> {
        metrics::describe();
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        let lags = self.bus.consumer_lag(&self.name, &topics).await?;
        for lag in &lags {
            ::metrics::gauge!(
                metrics::CONSUMER_LAG,
                "consumer" => self.name.clone(),
                "topic" => lag.topic.clone()
            )
            .set(lag.lag as f64);
        }
        Ok(lags)
    }

    /// Reports the lag every [`LAG_REPORT_INTERVAL`] until `shutdown`.
    async fn report_lag_until(&self, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.report_lag().await {
                tracing::debug!(consumer = %self.name, error = %error, "cannot measure the consumer lag");
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(LAG_REPORT_INTERVAL) => {}
            }
        }
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
                Ok(consumer) => {
                    tokio::join!(
                        consumer.run(shutdown.clone()),
                        self.report_lag_until(shutdown.clone())
                    );
                    return;
                }
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
