//! The embedded event bus: a durable append-only log in its own SQLite file, for
//! `gigmesh dev` (every service in one process, no broker).
//!
//! Each topic is a single partition, so every record of a topic (and hence of a key) is
//! read in append order. A consumer group's position is a row per topic; a group is meant
//! to have one member at a time (one process), unlike Kafka groups which balance partitions.
//! Subscribers in this process wake as soon as a record is appended; subscribers in other
//! processes notice new records by polling.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gigmesh_db::Db;
use gigmesh_types::now_millis;
use sqlx::Row as _;
use sqlx::any::AnyRow;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::bus::{
    BusError, EventBus, IncomingRecord, OutgoingRecord, PartialPublish, Subscription, TopicLag,
};

/// How often a waiting subscriber looks for records appended by another process.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How many records a subscription reads ahead in one query.
const FETCH_BATCH: i64 = 64;

/// Connections to the log file: appends serialise on SQLite's write lock anyway.
const POOL_SIZE: u32 = 4;

static LOG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/embedded_log");

/// The embedded log. Clones share the pool and the wake-up signal.
#[derive(Clone)]
pub struct EmbeddedBus {
    db: Db,
    appended: Arc<Notify>,
}

impl std::fmt::Debug for EmbeddedBus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EmbeddedBus")
            .finish_non_exhaustive()
    }
}

impl EmbeddedBus {
    /// Opens (creating when missing) the log file at `path`.
    pub async fn open(path: impl AsRef<Path>) -> Result<EmbeddedBus, BusError> {
        let url = format!("sqlite://{}", path.as_ref().display());
        Db::ensure_database(&url).await?;
        let db = Db::connect(&url, POOL_SIZE).await?;
        LOG_MIGRATOR
            .run(db.pool())
            .await
            .map_err(gigmesh_db::DbError::from)?;
        Ok(EmbeddedBus {
            db,
            appended: Arc::new(Notify::new()),
        })
    }

    /// Closes the log file; later calls fail.
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// Deletes records appended before `older_than` ago that every consumer group has
    /// already read past. Returns how many were deleted.
    pub async fn prune(&self, older_than: Duration) -> Result<u64, BusError> {
        let cutoff = now_millis() - i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
        let deleted = sqlx::query(
            "DELETE FROM log_records WHERE append_time < $1 AND id < COALESCE( \
                 (SELECT MIN(next_offset) FROM log_group_offsets \
                  WHERE log_group_offsets.topic = log_records.topic), 0)",
        )
        .bind(cutoff)
        .execute(self.db.pool())
        .await
        .map_err(gigmesh_db::DbError::from)?;
        Ok(deleted.rows_affected())
    }

    /// Appends `records` in one transaction and wakes the subscribers.
    async fn append(&self, records: &[OutgoingRecord]) -> Result<(), BusError> {
        if self.db.pool().is_closed() {
            return Err(BusError::Closed);
        }
        let mut tx = self.db.begin().await?;
        let mut known_topics: Vec<&str> = Vec::new();
        let append_time = now_millis();
        for record in records {
            if !known_topics.contains(&record.topic.as_str()) {
                let topic_exists = sqlx::query("SELECT 1 FROM log_topics WHERE topic = $1")
                    .bind(&record.topic)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(gigmesh_db::DbError::from)?
                    .is_some();
                if !topic_exists {
                    return Err(BusError::UnknownTopic(record.topic.clone()));
                }
                known_topics.push(&record.topic);
            }
            sqlx::query(
                "INSERT INTO log_records (topic, record_key, payload, headers, append_time) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&record.topic)
            .bind(&record.key)
            .bind(&record.payload)
            .bind(encode_headers(&record.headers))
            .bind(append_time)
            .execute(&mut *tx)
            .await
            .map_err(gigmesh_db::DbError::from)?;
        }
        tx.commit().await.map_err(gigmesh_db::DbError::from)?;
        self.appended.notify_waiters();
        Ok(())
    }
}

#[async_trait]
impl EventBus for EmbeddedBus {
    async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError> {
        let mut tx = self.db.begin().await?;
        for topic in topics {
            sqlx::query(
                "INSERT INTO log_topics (topic, create_time) VALUES ($1, $2) \
                 ON CONFLICT (topic) DO NOTHING",
            )
            .bind(*topic)
            .bind(now_millis())
            .execute(&mut *tx)
            .await
            .map_err(gigmesh_db::DbError::from)?;
        }
        tx.commit().await.map_err(gigmesh_db::DbError::from)?;
        Ok(())
    }

    async fn publish(&self, record: OutgoingRecord) -> Result<(), BusError> {
        self.append(std::slice::from_ref(&record)).await
    }

    /// In one transaction: all records or none.
    async fn publish_all(&self, records: Vec<OutgoingRecord>) -> Result<(), PartialPublish> {
        self.append(&records)
            .await
            .map_err(|source| PartialPublish {
                published: 0,
                source,
            })
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn Subscription>, BusError> {
        let mut positions = HashMap::new();
        for topic in topics {
            let committed: Option<i64> = sqlx::query(
                "SELECT next_offset FROM log_group_offsets WHERE group_name = $1 AND topic = $2",
            )
            .bind(group)
            .bind(*topic)
            .fetch_optional(self.db.pool())
            .await
            .map_err(gigmesh_db::DbError::from)?
            .map(|row| row.get(0));
            positions.insert((*topic).to_owned(), committed.unwrap_or(0));
        }
        Ok(Box::new(EmbeddedSubscription {
            db: self.db.clone(),
            appended: Arc::clone(&self.appended),
            group: group.to_owned(),
            positions,
            buffered: VecDeque::new(),
        }))
    }

    async fn consumer_lag(&self, group: &str, topics: &[&str]) -> Result<Vec<TopicLag>, BusError> {
        let mut lags = Vec::with_capacity(topics.len());
        for topic in topics {
            // Record ids are shared by all topics, so the topic's records past the group's
            // position are counted rather than subtracted.
            let lag: i64 = sqlx::query(
                "SELECT COUNT(*) FROM log_records WHERE topic = $1 AND id >= COALESCE( \
                     (SELECT next_offset FROM log_group_offsets \
                      WHERE group_name = $2 AND topic = $1), 0)",
            )
            .bind(*topic)
            .bind(group)
            .fetch_one(self.db.pool())
            .await
            .map_err(gigmesh_db::DbError::from)?
            .try_get(0)
            .map_err(|error| BusError::Log(error.into()))?;
            lags.push(TopicLag {
                topic: (*topic).to_owned(),
                lag: u64::try_from(lag).unwrap_or(0),
            });
        }
        Ok(lags)
    }
}

/// A group member reading the embedded log.
struct EmbeddedSubscription {
    db: Db,
    appended: Arc<Notify>,
    group: String,
    /// Next offset to read, per topic.
    positions: HashMap<String, i64>,
    /// Records read ahead and not yet handed out.
    buffered: VecDeque<IncomingRecord>,
}

impl EmbeddedSubscription {
    /// Reads the next records after the current positions into the buffer.
    async fn fetch(&mut self) -> Result<(), BusError> {
        if self.positions.is_empty() {
            return Ok(());
        }
        // (topic = $1 AND id >= $2) OR (topic = $3 AND id >= $4) ...
        let conditions: Vec<String> = (0..self.positions.len())
            .map(|index| format!("(topic = ${} AND id >= ${})", 2 * index + 1, 2 * index + 2))
            .collect();
        let sql = format!(
            "SELECT id, topic, record_key, payload, headers FROM log_records \
             WHERE {} ORDER BY id LIMIT {FETCH_BATCH}",
            conditions.join(" OR ")
        );
        let mut query = sqlx::query(&sql);
        for (topic, next_offset) in &self.positions {
            query = query.bind(topic.as_str()).bind(*next_offset);
        }
        let rows = query
            .fetch_all(self.db.pool())
            .await
            .map_err(gigmesh_db::DbError::from)?;
        for row in rows {
            let record = record_from_row(&row)?;
            self.positions
                .insert(record.topic.clone(), record.offset + 1);
            self.buffered.push_back(record);
        }
        Ok(())
    }
}

#[async_trait]
impl Subscription for EmbeddedSubscription {
    async fn next(&mut self, wait: Duration) -> Result<Option<IncomingRecord>, BusError> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(record) = self.buffered.pop_front() {
                return Ok(Some(record));
            }
            // Register for the wake-up before looking, so an append between the query and
            // the wait is not missed.
            let signal = Arc::clone(&self.appended);
            let appended = signal.notified();
            tokio::pin!(appended);
            appended.as_mut().enable();

            self.fetch().await?;
            if !self.buffered.is_empty() {
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let nap = POLL_INTERVAL.min(deadline - now);
            tokio::select! {
                () = &mut appended => {}
                () = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn commit(&mut self, record: &IncomingRecord) -> Result<(), BusError> {
        sqlx::query(
            "INSERT INTO log_group_offsets (group_name, topic, next_offset, commit_time) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (group_name, topic) \
             DO UPDATE SET next_offset = excluded.next_offset, commit_time = excluded.commit_time",
        )
        .bind(&self.group)
        .bind(&record.topic)
        .bind(record.offset + 1)
        .bind(now_millis())
        .execute(self.db.pool())
        .await
        .map_err(gigmesh_db::DbError::from)?;
        Ok(())
    }
}

fn record_from_row(row: &AnyRow) -> Result<IncomingRecord, BusError> {
    let read = |error: sqlx::Error| BusError::Log(error.into());
    let headers: Vec<u8> = row.try_get("headers").map_err(read)?;
    Ok(IncomingRecord {
        topic: row.try_get("topic").map_err(read)?,
        partition: 0,
        offset: row.try_get("id").map_err(read)?,
        key: row.try_get("record_key").map_err(read)?,
        payload: row.try_get("payload").map_err(read)?,
        headers: decode_headers(&headers),
    })
}

/// Headers as `(u32 key length, key, u32 value length, value)*`, big-endian lengths.
fn encode_headers(headers: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut encoded = Vec::new();
    for (key, value) in headers {
        for part in [key.as_bytes(), value.as_slice()] {
            let length = u32::try_from(part.len()).unwrap_or(u32::MAX);
            encoded.extend_from_slice(&length.to_be_bytes());
            encoded.extend_from_slice(&part[..length as usize]);
        }
    }
    encoded
}

fn decode_headers(mut encoded: &[u8]) -> Vec<(String, Vec<u8>)> {
    fn take_part<'a>(encoded: &mut &'a [u8]) -> Option<&'a [u8]> {
        let (length, rest) = encoded.split_first_chunk::<4>()?;
        let length = u32::from_be_bytes(*length) as usize;
        if rest.len() < length {
            return None;
        }
        let (part, rest) = rest.split_at(length);
        *encoded = rest;
        Some(part)
    }
    let mut headers = Vec::new();
    while let (Some(key), Some(value)) = (take_part(&mut encoded), take_part(&mut encoded)) {
        headers.push((String::from_utf8_lossy(key).into_owned(), value.to_vec()));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let headers = vec![
            ("traceparent".to_owned(), b"00-abc-def-01".to_vec()),
            ("empty".to_owned(), Vec::new()),
        ];
        assert_eq!(decode_headers(&encode_headers(&headers)), headers);
        assert!(decode_headers(&[]).is_empty());
        assert!(decode_headers(&[0, 0, 0, 9, 1]).is_empty());
    }
}
