//! The gigmesh user service: owns profiles, what buyers and sellers show of themselves.
//!
//! A profile is created when auth's `UserRegistered` event arrives (never by a call to auth),
//! and suspension events from auth hide it. Signed-in users read and change their own
//! profile and become sellers; anyone reads public profiles by id or username. Every change
//! commits together with a `ProfileChanged` event (and `SellerActivated` when a user becomes
//! a seller) in the outbox, so other services keep their read models without calling back.

mod api;
mod app;
mod codes;
mod config;
mod domain;
mod error;
mod events;
mod input;
mod output;
mod store;

pub use app::{App, MIGRATIONS};
pub use config::Config;
pub use events::CONSUMER_NAME;
