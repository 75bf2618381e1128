//! Time as the stores keep it: unix milliseconds in a BIGINT, converted to protobuf
//! timestamps only at the API edge; and the [`Clock`] that code with timers reads, so
//! tests move time instead of waiting for it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prost_types::Timestamp;

/// Milliseconds since the unix epoch, now.
pub fn now_millis() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
}

/// Where code with timers reads the time: the system's clock in production, a
/// [`ManualClock`] in tests. Cloning shares the clock.
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// Milliseconds since the unix epoch, now.
    pub fn now_millis(&self) -> i64 {
        match &self.manual {
            Some(millis) => millis.load(Ordering::SeqCst),
            None => now_millis(),
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.manual {
            Some(millis) => write!(
                formatter,
                "Clock::manual({})",
                millis.load(Ordering::SeqCst)
            ),
            None => formatter.write_str("Clock::system"),
        }
    }
}

/// A clock that stands still until a test moves it; [`ManualClock::clock`] hands the code
/// under test a [`Clock`] that reads it.
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock standing at `millis` since the unix epoch.
    pub fn at(millis: i64) -> Self {
        Self {
            millis: Arc::new(AtomicI64::new(millis)),
        }
    }

    /// A clock standing at the system's time now.
    pub fn starting_now() -> Self {
        Self::at(now_millis())
    }

    /// The [`Clock`] that reads this one.
    pub fn clock(&self) -> Clock {
        Clock {
            manual: Some(self.millis.clone()),
        }
    }

    /// Where it stands.
    pub fn now_millis(&self) -> i64 {
        self.millis.load(Ordering::SeqCst)
    }

    /// Moves it forward by `millis`.
    pub fn advance_millis(&self, millis: i64) {
        self.millis.fetch_add(millis, Ordering::SeqCst);
    }

    /// Moves it forward by `seconds`.
    pub fn advance_seconds(&self, seconds: i64) {
        self.advance_millis(seconds.saturating_mul(1000));
    }
}

/// A protobuf timestamp for unix milliseconds.
pub fn timestamp_from_millis(millis: i64) -> Timestamp {
    Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// Unix milliseconds of a protobuf timestamp.
pub fn millis_from_timestamp(timestamp: &Timestamp) -> i64 {
    timestamp
        .seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(timestamp.nanos / 1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_is_shared_by_its_clocks() {
        let manual = ManualClock::at(1_000);
        let clock = manual.clock();
        let copy = clock.clone();
        assert_eq!(clock.now_millis(), 1_000);
        manual.advance_seconds(3);
        assert_eq!(clock.now_millis(), 4_000);
        assert_eq!(copy.now_millis(), 4_000);
        assert!(Clock::system().now_millis() > 1_600_000_000_000);
    }

    #[test]
    fn round_trips_including_negative_times() {
        for millis in [0, 1, 999, 1_700_000_000_123, -1, -1001] {
            assert_eq!(
                millis_from_timestamp(&timestamp_from_millis(millis)),
                millis
            );
        }
    }
}
