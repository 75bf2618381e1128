//! One live stream of events per signed-in client: the hub of the streams this replica
//! holds, resume tokens, the stream itself, and the presence they make.

pub mod hub;
pub mod presence;
pub mod session;
pub mod token;

pub use hub::StreamHub;
pub use presence::PresenceTask;
pub use session::{EventStream, StreamCloser, StreamOpener, StreamSettings};
