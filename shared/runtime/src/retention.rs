//! One retention task for the tables that would otherwise only grow: every service's inbox
//! and dead letters, the tables a service declares in its [`Description::retention`]
//! (auth: refresh tokens, sessions, mailed tokens, log-in failures, mail requests), and in
//! dev mode the embedded event log.
//!
//! Each [`RetentionRule`] names a table and the SQL condition of a row past its use, with
//! `$1` as the cutoff (Unix milliseconds, now minus the rule's horizon). The task deletes
//! such rows in small batches, so it never holds a long lock, and counts what it removed in
//! `gigmesh_retention_deleted_rows_total{service, rule}`. Horizons are configuration
//! (`retention.horizon_hours.<rule>`); sent outbox rows keep the relay's own, shorter
//! retention.
//!
//! [`Description::retention`]: crate::Description::retention

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gigmesh_config::{Problems, Validate};
use gigmesh_db::{Backend, Db, DbError};
use gigmesh_events::{BackgroundTask, EmbeddedBus};
use gigmesh_types::now_millis;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// The counter of rows the retention task deleted, by service and rule.
pub const DELETED_ROWS: &str = "gigmesh_retention_deleted_rows_total";

/// The rule name of the embedded event log (dev mode's `bus.db`).
pub const EVENT_LOG_RULE: &str = "event_log";

/// Rows of one table that are past their use after a horizon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionRule {
    /// The name its horizon is configured by (`retention.horizon_hours.<name>`), unique
    /// across services, and its metric label.
    pub name: &'static str,
    /// The table rows are deleted from.
    pub table: &'static str,
    /// SQL condition of a row past its use, `$1` being the cutoff in Unix milliseconds.
    pub expired: &'static str,
    /// The horizon unless configured.
    pub default_horizon_hours: u64,
}

/// The event tables of shared/events in every service database: applied events are
/// remembered a week (far longer than any redelivery), dead letters a month.
pub const EVENT_TABLE_RULES: &[RetentionRule] = &[
    RetentionRule {
        name: "inbox",
        table: "inbox",
        expired: "process_time < $1",
        default_horizon_hours: 7 * 24,
    },
    RetentionRule {
        name: "dead_letters",
        table: "dead_letters",
        expired: "create_time < $1",
        default_horizon_hours: 30 * 24,
    },
];

/// How often the task runs, how much it deletes per statement, and the horizons that differ
/// from the rules' defaults (`[retention]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Seconds between two runs.
    pub interval_seconds: u64,
    /// Rows deleted per statement.
    pub batch_size: u32,
    /// Hours a row is kept past the moment its rule counts from, by rule name.
    pub horizon_hours: BTreeMap<String, u64>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            interval_seconds: 600,
            batch_size: 1000,
            horizon_hours: BTreeMap::new(),
        }
    }
}

impl RetentionConfig {
    /// Time between two runs.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_seconds)
    }

    /// The horizon of `rule`: configured, else its default.
    pub fn horizon(&self, rule: &RetentionRule) -> Duration {
        self.horizon_of(rule.name, rule.default_horizon_hours)
    }

    /// The horizon of the embedded event log (a week unless configured).
    pub fn event_log_horizon(&self) -> Duration {
        self.horizon_of(EVENT_LOG_RULE, 7 * 24)
    }

    fn horizon_of(&self, name: &str, default_hours: u64) -> Duration {
        let hours = self
            .horizon_hours
            .get(name)
            .copied()
            .unwrap_or(default_hours);
        Duration::from_secs(hours.saturating_mul(3600))
    }

    /// Records the problems of the section (at `path`), with `known_rules` the rule names
    /// of every service (a horizon for anything else is a typo).
    pub fn validate_rules(&self, path: &str, known_rules: &[&str], problems: &mut Problems) {
        if self.interval_seconds == 0 {
            problems.add(path, "interval_seconds", "must be at least 1");
        }
        if self.batch_size == 0 {
            problems.add(path, "batch_size", "must be at least 1");
        }
        for (name, hours) in &self.horizon_hours {
            let key = format!("horizon_hours.{name}");
            if name != EVENT_LOG_RULE && !known_rules.contains(&name.as_str()) {
                problems.add(
                    path,
                    &key,
                    format!(
                        "no table is kept by that name; known: {}, {EVENT_LOG_RULE}",
                        known_rules.join(", ")
                    ),
                );
            } else if *hours == 0 {
                problems.add(path, &key, "must be at least 1 hour");
            }
        }
    }
}

impl Validate for RetentionConfig {
    /// Checks against the event tables' rules only; the composition root, which knows every
    /// service, calls [`RetentionConfig::validate_rules`] with all of them.
    fn validate(&self, path: &str, problems: &mut Problems) {
        let known: Vec<&str> = EVENT_TABLE_RULES.iter().map(|rule| rule.name).collect();
        self.validate_rules(path, &known, problems);
    }
}

/// The retention task of one service database.
pub struct Retention {
    task_name: String,
    service: &'static str,
    db: Db,
    rules: Vec<(RetentionRule, Duration)>,
    batch_size: u32,
    interval: Duration,
}

impl Retention {
    /// The task for `service`'s database: the event tables' rules, then `service_rules` (in
    /// the order given, so a table referenced by another is emptied after it).
    pub fn new(
        service: &'static str,
        service_rules: &[RetentionRule],
        db: Db,
        config: &RetentionConfig,
    ) -> Self {
        let rules = EVENT_TABLE_RULES
            .iter()
            .chain(service_rules)
            .map(|rule| (*rule, config.horizon(rule)))
            .collect();
        Self {
            task_name: format!("{service}.retention"),
            service,
            db,
            rules,
            batch_size: config.batch_size,
            interval: config.interval(),
        }
    }

    /// Deletes every row past its horizon now; returns how many per rule (rules that
    /// deleted nothing included).
    pub async fn run_once(&self) -> Result<Vec<(&'static str, u64)>, DbError> {
        let now = now_millis();
        let mut deleted = Vec::with_capacity(self.rules.len());
        for (rule, horizon) in &self.rules {
            let cutoff = now.saturating_sub(i64::try_from(horizon.as_millis()).unwrap_or(i64::MAX));
            let count = self.delete_expired(rule, cutoff).await?;
            if count > 0 {
                metrics::counter!(
                    DELETED_ROWS,
                    "service" => self.service,
                    "rule" => rule.name,
                )
                .increment(count);
                tracing::info!(
                    service = self.service,
                    rule = rule.name,
                    rows = count,
                    "retention"
                );
            }
            deleted.push((rule.name, count));
        }
        Ok(deleted)
    }

    /// Deletes the rows of `rule` older than `cutoff`, one batch per statement.
    async fn delete_expired(&self, rule: &RetentionRule, cutoff: i64) -> Result<u64, DbError> {
        let row_id = match self.db.backend() {
            Backend::Sqlite => "rowid",
            Backend::Postgres => "ctid",
        };
        let statement = format!(
            "DELETE FROM {table} WHERE {row_id} IN \
             (SELECT {row_id} FROM {table} WHERE {expired} LIMIT {batch})",
            table = rule.table,
            expired = rule.expired,
            batch = self.batch_size,
        );
        let mut total = 0;
        loop {
            let result = sqlx::query(&statement)
                .bind(cutoff)
                .execute(self.db.pool())
                .await?;
            total += result.rows_affected();
            if result.rows_affected() < u64::from(self.batch_size) {
                return Ok(total);
            }
            // Let other writers in between batches.
            tokio::task::yield_now().await;
        }
    }
}

#[async_trait]
impl BackgroundTask for Retention {
    fn name(&self) -> &str {
        &self.task_name
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) {
        describe_metrics();
        crate::process::every(self.interval, &shutdown, || async {
            if let Err(error) = self.run_once().await {
                tracing::warn!(
                    task = self.task_name,
                    error = format!("{error:#}"),
                    "retention run failed; retrying at the next interval"
                );
            }
        })
        .await;
    }
}

/// The retention of dev mode's embedded event log: records every consumer group has read,
/// older than the horizon.
pub struct EventLogRetention {
    bus: Arc<EmbeddedBus>,
    horizon: Duration,
    interval: Duration,
}

impl EventLogRetention {
    /// The task for `bus` with the `event_log` horizon of `config`.
    pub fn new(bus: Arc<EmbeddedBus>, config: &RetentionConfig) -> Self {
        Self {
            bus,
            horizon: config.event_log_horizon(),
            interval: config.interval(),
        }
    }

    /// Deletes the records past the horizon now; returns how many.
    pub async fn run_once(&self) -> anyhow::Result<u64> {
        let deleted = self.bus.prune(self.horizon).await?;
        if deleted > 0 {
            metrics::counter!(DELETED_ROWS, "service" => "dev", "rule" => EVENT_LOG_RULE)
                .increment(deleted);
        }
        Ok(deleted)
    }
}

#[async_trait]
impl BackgroundTask for EventLogRetention {
    fn name(&self) -> &str {
        "event-log.retention"
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) {
        describe_metrics();
        crate::process::every(self.interval, &shutdown, || async {
            if let Err(error) = self.run_once().await {
                tracing::warn!(error = format!("{error:#}"), "event log retention failed");
            }
        })
        .await;
    }
}

fn describe_metrics() {
    metrics::describe_counter!(
        DELETED_ROWS,
        "Rows the retention task deleted because they were past their horizon."
    );
}
