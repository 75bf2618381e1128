//! The chat service (`gigmesh.chat.v1.ChatService`): conversations between a buyer and a
//! seller (inquiries about a gig, and each order's own conversation, opened by itself from
//! orders' events), their messages and read positions, the custom offers sellers make in
//! them, blocks and reports, and one live stream of events per signed-in client.
//!
//! Every change writes its rows, a row in each participant's stream and its event in one
//! transaction. A client's stream reads its rows after the last one it sent, woken at once
//! on the replica that made the change and, through the bus, on every other replica (each
//! reads the chat topic in a group of its own), so a stream resumes without gaps or
//! repeats wherever it is held.

mod api;
mod app;
mod config;
mod consumers;
pub mod domain;
mod error;
mod events;
pub mod input;
mod output;
mod store;
pub mod stream;
mod timers;
mod use_cases;

pub use app::{App, MIGRATIONS};
pub use config::Config;
pub use consumers::UPSTREAM_CONSUMER_NAME;
pub use timers::{TimerLoop, TimerRun};
