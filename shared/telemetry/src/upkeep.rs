//! Periodic maintenance on a thread of its own.
//!
//! The Prometheus recorder buffers every histogram sample until upkeep drains it into the
//! aggregated distribution; a scrape does that, but a process nobody scrapes would buffer
//! forever. [`PeriodicUpkeep`] runs the drain on a timer instead. It is a plain thread, not
//! a tokio task, because the recorder outlives any one runtime (tests start several) and
//! may be installed before a runtime exists.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// A step that runs every `interval` until this value is dropped; dropping stops and joins
/// the thread.
pub(crate) struct PeriodicUpkeep {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl PeriodicUpkeep {
    /// Starts a thread that calls `step` every `interval`, first after one interval.
    pub(crate) fn spawn(
        interval: Duration,
        mut step: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("gigmesh-metrics-upkeep".to_owned())
            .spawn(move || {
                // Waiting on the channel doubles as the timer: a timeout is the next tick,
                // a disconnect (the owner dropped) is the end.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    step();
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for PeriodicUpkeep {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("the upkeep step panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_upkeep_repeats_on_its_interval_until_dropped() {
        let (ran_sender, ran) = mpsc::channel();
        let upkeep = PeriodicUpkeep::spawn(Duration::from_millis(5), move || {
            let _ = ran_sender.send(());
        })
        .unwrap();
        // A generous deadline per run: the interval is short, a loaded machine is not.
        for _ in 0..3 {
            ran.recv_timeout(Duration::from_secs(5))
                .expect("upkeep did not run again");
        }

        drop(upkeep);
        // Dropping joins the thread, which drops the step and with it the sender.
        while ran.try_recv().is_ok() {}
        assert_eq!(ran.try_recv(), Err(mpsc::TryRecvError::Disconnected));
    }
}
