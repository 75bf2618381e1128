//! The per-client-address rate limit of sensitive public methods (sign-up, log-in, password
//! reset), a token bucket per address.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Token buckets keyed by client address.
pub(crate) struct ClientRateLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl ClientRateLimiter {
    /// `per_minute` calls per minute sustained, `burst` at once; both at least 1.
    pub(crate) fn new(per_minute: u32, burst: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes a token for `client`, or says how long until the next one.
    pub(crate) fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets addresses whose buckets are full again, so memory follows the active clients.
    pub(crate) fn forget_idle_clients(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many addresses are tracked.
    #[cfg(test)]
    pub(crate) fn tracked_clients(&self) -> usize {
        self.limiter.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_bucket() {
        let limiter = ClientRateLimiter::new(60, 2);
        let first: IpAddr = "192.0.2.1".parse().expect("ip");
        let second: IpAddr = "192.0.2.2".parse().expect("ip");
        assert!(limiter.check(first).is_ok());
        assert!(limiter.check(first).is_ok());
        let wait = limiter.check(first).expect_err("limited");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limiter.check(second).is_ok());
        assert_eq!(limiter.tracked_clients(), 2);
    }
}
