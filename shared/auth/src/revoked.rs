//! Sessions that ended before their access tokens expire.
//!
//! An access token is self-contained: it verifies until it expires, whatever happened to its
//! session. Auth announces ended sessions (`gigmesh.auth.v1.SessionsRevoked`); each service
//! keeps them in its database and loads them into a [`RevokedSessions`] that its
//! [`TokenVerifier`](crate::TokenVerifier) consults on every call. Long-lived calls (a
//! stream) [`watch`](RevokedSessions::watch) the set to end as soon as their session does.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::sync::watch;

/// The ended sessions a verifier refuses, by session id, with when their last access token
/// expires (Unix milliseconds). Clones share one set; reading it costs one hash lookup.
#[derive(Debug, Clone)]
pub struct RevokedSessions {
    inner: Arc<RwLock<HashMap<Box<str>, i64>>>,
    /// Counts the additions of sessions not known before, for [`RevokedSessions::watch`].
    additions: Arc<watch::Sender<u64>>,
}

impl Default for RevokedSessions {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            additions: Arc::new(watch::Sender::new(0)),
        }
    }
}

impl RevokedSessions {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the session `session_id` ended.
    pub fn contains(&self, session_id: &str) -> bool {
        self.inner.read().contains_key(session_id)
    }

    /// Adds ended sessions (the service that learns them applies them at once, before the
    /// next [`replace`](Self::replace)).
    pub fn insert_all<'a>(&self, sessions: impl IntoIterator<Item = (&'a str, i64)>) {
        let mut added = false;
        {
            let mut inner = self.inner.write();
            for (session_id, expire_time) in sessions {
                added |= inner.insert(Box::from(session_id), expire_time).is_none();
            }
        }
        self.announce(added);
    }

    /// A receiver that sees a change whenever a session is added to the set: a stream
    /// waits on it and checks [`contains`](Self::contains) for its own session.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.additions.subscribe()
    }

    fn announce(&self, added: bool) {
        if added {
            self.additions.send_modify(|additions| *additions += 1);
        }
    }

    /// Adds `sessions` (a fresh load from the database) and forgets the sessions whose
    /// last token expired before `now`. A session never comes back to life, so what is known
    /// is kept: a load that started before an [`insert_all`](Self::insert_all) cannot undo
    /// it.
    pub fn merge_and_forget_expired(
        &self,
        sessions: impl IntoIterator<Item = (String, i64)>,
        now: i64,
    ) {
        let mut added = false;
        {
            let mut inner = self.inner.write();
            for (session_id, expire_time) in sessions {
                added |= inner
                    .insert(session_id.into_boxed_str(), expire_time)
                    .is_none();
            }
            inner.retain(|_, expire_time| *expire_time >= now);
        }
        self.announce(added);
    }

    /// How many ended sessions are known.
    pub fn len(&self) -> usize {
        self.inner.read().len()
    }

    /// Whether no ended session is known.
    pub fn is_empty(&self) -> bool {
        self.inner.read().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_set_and_loads_forget_only_expired_sessions() {
        let revoked = RevokedSessions::new();
        let seen_by_another = revoked.clone();
        revoked.insert_all([("s1", 10), ("s2", 20)]);
        assert!(seen_by_another.contains("s1"));
        assert_eq!(seen_by_another.len(), 2);

        // A load that does not have s2 yet keeps it; s1 expired.
        revoked.merge_and_forget_expired([("s3".to_owned(), 30)], 15);
        assert!(!seen_by_another.contains("s1"));
        assert!(seen_by_another.contains("s2"));
        assert!(seen_by_another.contains("s3"));
    }

    #[test]
    fn watchers_see_new_sessions_only() {
        let revoked = RevokedSessions::new();
        let mut watcher = revoked.clone().watch();
        assert!(!watcher.has_changed().expect("open"));
        revoked.insert_all([("s1", 10)]);
        assert!(watcher.has_changed().expect("open"));
        watcher.mark_unchanged();
        revoked.insert_all([("s1", 10)]);
        revoked.merge_and_forget_expired([("s1".to_owned(), 10)], 0);
        assert!(!watcher.has_changed().expect("open"), "nothing new");
        revoked.merge_and_forget_expired([("s2".to_owned(), 10)], 0);
        assert!(watcher.has_changed().expect("open"));
    }
}
