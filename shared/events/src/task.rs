//! Long-running loops a service hands to the binary to spawn.

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

/// A background loop (outbox relay, event consumer) with a name for logs, run until the
/// token is cancelled. The binary spawns every service's tasks the same way.
#[async_trait]
pub trait BackgroundTask: Send + 'static {
    /// Names the task in logs, e.g. the consumer group.
    fn name(&self) -> &str;

    /// Runs until `shutdown` is cancelled, then returns after finishing the current step.
    async fn run(self: Box<Self>, shutdown: CancellationToken);
}
