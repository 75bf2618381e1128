//! The per-client rate limit of sensitive public methods (sign-up, log-in, password reset): a
//! token bucket per IPv4 address and per IPv6 /64 network, with a cap on how many buckets are
//! kept.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gigmesh_types::client_network;
use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::{Quota, RateLimiter};

/// Shortest gap between two sweeps for full buckets made because the limiter is full: a sweep
/// walks every bucket, so a flood of new clients must not trigger one per call.
const FULL_LIMITER_SWEEP_GAP: Duration = Duration::from_secs(1);

/// The buckets, shared by the governor limiter, which measures them, and the admission of new
/// clients, which needs to know whether a key is tracked.
#[derive(Clone, Default)]
struct SharedBuckets(Arc<DashMapStateStore<IpAddr>>);

impl SharedBuckets {
    fn is_tracked(&self, key: &IpAddr) -> bool {
        self.0.contains_key(key)
    }
}

impl StateStore for SharedBuckets {
    type Key = IpAddr;

    fn measure_and_replace<T, F, E>(&self, key: &IpAddr, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

impl ShrinkableKeyedStateStore<IpAddr> for SharedBuckets {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&*self.0, drop_below);
    }

    fn shrink_to_fit(&self) {
        self.0.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Token buckets keyed by [`client_network`], at most `max_tracked_clients` of them.
///
/// When the limiter is full, a new client first gets room made by dropping full buckets
/// (those that have refilled since their last call): a full bucket is no different from a
/// fresh one, so dropping it gives no client back any budget. If no bucket is full, the new
/// client is refused until one is. The limiter never evicts a bucket that is still short of
/// tokens (least recently used or at random), because then a limited client could call from
/// enough new addresses to push its own bucket out and start again with a full burst. The price
/// of refusing is that a flood from more than `max_tracked_clients` distinct IPv4 addresses or
/// IPv6 /64s, each calling once per refill period, keeps new clients out of the limited methods
/// while it lasts; clients already tracked keep their own budgets.
///
/// New clients are admitted one at a time, so they cannot together pass the cap. A tracked
/// client whose bucket a sweep drops while its call is between the lookup and the token is put
/// back outside admission, so the count can pass the cap by at most the calls in that window.
pub(crate) struct ClientRateLimiter<C: Clock = DefaultClock> {
    limiter: RateLimiter<IpAddr, SharedBuckets, C, NoOpMiddleware<C::Instant>>,
    buckets: SharedBuckets,
    max_tracked_clients: usize,
    /// How long an unused bucket takes to refill, and so to become droppable.
    refill_time: Duration,
    /// Held while a new client is admitted; holds when the last sweep for full buckets ran.
    admission: Mutex<Option<C::Instant>>,
}

impl ClientRateLimiter {
    /// `per_minute` calls per minute sustained, `burst` at once, both at least 1; buckets for
    /// at most `max_tracked_clients` clients, at least 1.
    pub(crate) fn new(per_minute: u32, burst: u32, max_tracked_clients: usize) -> Self {
        Self::with_clock(
            per_minute,
            burst,
            max_tracked_clients,
            DefaultClock::default(),
        )
    }
}

impl<C: Clock> ClientRateLimiter<C> {
    /// As [`ClientRateLimiter::new`], reading time from `clock`.
    pub(crate) fn with_clock(
        per_minute: u32,
        burst: u32,
        max_tracked_clients: usize,
        clock: C,
    ) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        let buckets = SharedBuckets::default();
        Self {
            limiter: RateLimiter::new(quota, buckets.clone(), clock),
            buckets,
            max_tracked_clients: max_tracked_clients.max(1),
            refill_time: quota.burst_size_replenished_in(),
            admission: Mutex::new(None),
        }
    }

    /// Takes a token for `client`'s bucket, or says how long until it may try again.
    pub(crate) fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let key = client_network(client);
        if self.buckets.is_tracked(&key) {
            return self.take_token(&key);
        }
        let mut last_sweep = self
            .admission
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.limiter.len() >= self.max_tracked_clients {
            self.sweep_if_due(&mut last_sweep);
        }
        if self.limiter.len() >= self.max_tracked_clients {
            return Err(self.refill_time);
        }
        // Inserted while admission is held, so only the one call can fill the last place.
        self.take_token(&key)
    }

    fn take_token(&self, key: &IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// Drops full buckets, unless that was done less than [`FULL_LIMITER_SWEEP_GAP`] ago.
    fn sweep_if_due(&self, last_sweep: &mut Option<C::Instant>) {
        let now = self.limiter.clock().now();
        let due = last_sweep
            .is_none_or(|last| Duration::from(now.duration_since(last)) >= FULL_LIMITER_SWEEP_GAP);
        if !due {
            return;
        }
        *last_sweep = Some(now);
        self.limiter.retain_recent();
        let tracked_clients = self.limiter.len();
        if tracked_clients >= self.max_tracked_clients {
            tracing::warn!(
                tracked_clients,
                max_tracked_clients = self.max_tracked_clients,
                "rate limiter full, refusing new clients"
            );
        }
    }

    /// Forgets clients whose buckets are full again, so memory follows the active clients.
    pub(crate) fn forget_idle_clients(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many buckets are kept.
    #[cfg(test)]
    pub(crate) fn tracked_clients(&self) -> usize {
        self.limiter.len()
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    /// A limiter of one call per second, no burst, tracking at most `max_tracked_clients`.
    fn one_per_second(
        max_tracked_clients: usize,
    ) -> (ClientRateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let limiter = ClientRateLimiter::with_clock(60, 1, max_tracked_clients, clock.clone());
        (limiter, clock)
    }

    /// The `index`-th address of 2001:db8::/32, each in its own /64.
    fn client_network(index: u16) -> IpAddr {
        IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, index, 0, 0, 0, 1))
    }

    #[test]
    fn each_address_has_its_own_bucket() {
        let limiter = ClientRateLimiter::new(60, 2, 100);
        let first = ip("192.0.2.1");
        let second = ip("192.0.2.2");
        assert!(limiter.check(first).is_ok());
        assert!(limiter.check(first).is_ok());
        let wait = limiter.check(first).expect_err("limited");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limiter.check(second).is_ok());
        assert_eq!(limiter.tracked_clients(), 2);
    }

    #[test]
    fn one_64_shares_one_bucket() {
        let (limiter, _clock) = one_per_second(100);
        assert!(limiter.check(ip("2001:db8:1:2::1")).is_ok());
        assert!(limiter.check(ip("2001:db8:1:2:ffff::9")).is_err());
        assert!(limiter.check(ip("2001:db8:1:3::1")).is_ok());
        assert!(limiter.check(ip("192.0.2.1")).is_ok());
        assert!(limiter.check(ip("::ffff:192.0.2.1")).is_err());
        assert!(limiter.check(ip("192.0.2.2")).is_ok());
        assert_eq!(limiter.tracked_clients(), 4);
    }

    #[test]
    fn the_number_of_tracked_clients_is_capped() {
        let (limiter, _clock) = one_per_second(3);
        for index in 0..3 {
            assert!(limiter.check(client_network(index)).is_ok());
        }
        for index in 3..1000 {
            let wait = limiter
                .check(client_network(index))
                .expect_err("no room for a new client");
            assert!(wait >= Duration::from_secs(1), "{wait:?}");
        }
        assert_eq!(limiter.tracked_clients(), 3);
        // Clients already tracked keep their own buckets.
        assert!(limiter.check(client_network(0)).is_err(), "still limited");
    }

    #[test]
    fn new_clients_cannot_push_a_limited_client_out() {
        let (limiter, clock) = one_per_second(2);
        let limited = ip("192.0.2.1");
        assert!(limiter.check(limited).is_ok());
        assert!(limiter.check(limited).is_err());
        for round in 0..5 {
            clock.advance(Duration::from_millis(100));
            for index in 0..100 {
                let _ = limiter.check(client_network(round * 100 + index));
            }
            assert!(limiter.check(limited).is_err(), "round {round}");
            assert!(limiter.tracked_clients() <= 2);
        }
    }

    #[test]
    fn a_full_table_makes_room_by_dropping_full_buckets() {
        let (limiter, clock) = one_per_second(2);
        assert!(limiter.check(client_network(0)).is_ok());
        assert!(limiter.check(client_network(1)).is_ok());
        assert!(limiter.check(client_network(2)).is_err());
        // Once both buckets have refilled they are no different from fresh ones.
        clock.advance(Duration::from_secs(2));
        assert!(limiter.check(client_network(2)).is_ok());
        assert!(limiter.check(client_network(3)).is_ok());
        assert!(limiter.check(client_network(4)).is_err());
        assert_eq!(limiter.tracked_clients(), 2);
    }
}
