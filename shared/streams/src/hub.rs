//! The streams this replica holds, by user: a change wakes the user's streams here (right
//! after its commit on the replica that made it, and on every replica when the event comes
//! back from the bus); the open streams say who is online; shutdown closes them all.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gigmesh_types::UserId;
use parking_lot::Mutex;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// The streams of this replica.
#[derive(Debug, Clone)]
pub struct StreamHub {
    inner: Arc<HubInner>,
}

#[derive(Debug)]
struct HubInner {
    /// The gauge of streams open here.
    gauge: &'static str,
    users: Mutex<HashMap<UserId, UserStreams>>,
    open_streams: AtomicUsize,
    closing: CancellationToken,
    /// Told when a user's first stream opens or their last closes, so presence is written
    /// without waiting for its next refresh.
    presence_changed: Notify,
}

#[derive(Debug)]
struct UserStreams {
    wake: watch::Sender<u64>,
    open: usize,
}

/// One open stream's place in the hub; dropping it closes the place.
#[derive(Debug)]
pub struct Registration {
    hub: StreamHub,
    user_id: UserId,
    /// Changes whenever the user's stream may have new rows.
    pub wake: watch::Receiver<u64>,
}

impl StreamHub {
    /// An empty hub, counting its open streams in the gauge `gauge` (e.g.
    /// `gigmesh_chat_open_streams`).
    pub fn new(gauge: &'static str) -> Self {
        Self {
            inner: Arc::new(HubInner {
                gauge,
                users: Mutex::default(),
                open_streams: AtomicUsize::new(0),
                closing: CancellationToken::new(),
                presence_changed: Notify::new(),
            }),
        }
    }

    /// The gauge the hub counts its open streams in.
    pub fn gauge(&self) -> &'static str {
        self.inner.gauge
    }

    /// Opens a place for a stream of `user_id`.
    pub fn register(&self, user_id: UserId) -> Registration {
        let (wake, first) = {
            let mut users = self.inner.users.lock();
            let streams = users.entry(user_id).or_insert_with(|| UserStreams {
                wake: watch::Sender::new(0),
                open: 0,
            });
            streams.open += 1;
            (streams.wake.subscribe(), streams.open == 1)
        };
        let open = self.inner.open_streams.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!(self.inner.gauge).set(open as f64);
        if first {
            self.inner.presence_changed.notify_one();
        }
        Registration {
            hub: self.clone(),
            user_id,
            wake,
        }
    }

    /// Wakes `user_id`'s streams on this replica, if it holds any.
    pub fn wake(&self, user_id: UserId) {
        if let Some(streams) = self.inner.users.lock().get(&user_id) {
            streams.wake.send_modify(|changes| *changes += 1);
        }
    }

    /// The users with a stream open here.
    pub fn online_users(&self) -> Vec<UserId> {
        self.inner.users.lock().keys().copied().collect()
    }

    /// Streams open here.
    pub fn open_streams(&self) -> usize {
        self.inner.open_streams.load(Ordering::Relaxed)
    }

    /// Waits until a user's first stream opened or their last closed.
    pub async fn presence_changed(&self) {
        self.inner.presence_changed.notified().await;
    }

    /// Cancelled when the replica shuts down: every stream ends.
    pub fn closing(&self) -> CancellationToken {
        self.inner.closing.clone()
    }

    /// Ends every stream (shutdown); new ones end at once.
    pub fn close_all(&self) {
        self.inner.closing.cancel();
    }

    fn unregister(&self, user_id: UserId) {
        let last = {
            let mut users = self.inner.users.lock();
            match users.get_mut(&user_id) {
                Some(streams) if streams.open > 1 => {
                    streams.open -= 1;
                    false
                }
                Some(_) => {
                    users.remove(&user_id);
                    true
                }
                None => false,
            }
        };
        let open = self.inner.open_streams.fetch_sub(1, Ordering::Relaxed) - 1;
        metrics::gauge!(self.inner.gauge).set(open as f64);
        if last {
            self.inner.presence_changed.notify_one();
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.unregister(self.user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_reach_every_stream_of_the_user_and_places_close_on_drop() {
        let hub = StreamHub::new("test_open_streams");
        let user = UserId::new();
        let mut first = hub.register(user);
        let mut second = hub.register(user);
        let other = hub.register(UserId::new());
        assert_eq!(hub.open_streams(), 3);
        hub.wake(user);
        assert!(first.wake.has_changed().expect("open"));
        assert!(second.wake.has_changed().expect("open"));
        assert!(!other.wake.has_changed().expect("open"));
        first.wake.mark_unchanged();
        second.wake.mark_unchanged();
        drop(first);
        assert!(hub.online_users().contains(&user));
        drop(second);
        assert!(!hub.online_users().contains(&user));
        assert_eq!(hub.open_streams(), 1);
        hub.wake(user);
        assert!(!hub.closing().is_cancelled());
        hub.close_all();
        assert!(hub.closing().is_cancelled());
    }
}
