//! The gigmesh order service: owns orders of gigs — a buyer buys one package of a gig with
//! extras, pays into escrow (payments tells it, by event), answers the gig's requirements,
//! receives deliveries, asks for revisions and accepts; either side may ask for more time,
//! a mutual cancellation, or an admin's decision in a dispute. Timers expire unpaid orders,
//! flag late ones, complete delivered ones and accept unanswered requests.
//!
//! Prices, delivery days, revisions and requirement questions come from orders' own copy of
//! each gig, kept from the gig service's `GigChanged` events (never a call). Every change
//! appends a timeline entry and commits together with an `OrderChanged` event carrying the
//! whole order, its version and, when money moves, its settlement, so payments,
//! notifications and others follow without calling back.

mod api;
mod app;
mod config;
mod domain;
mod error;
mod events;
mod input;
mod metrics;
mod output;
mod store;
mod timers;
mod use_cases;

pub use app::{App, MIGRATIONS};
pub use config::Config;
pub use events::CONSUMER_NAME;
pub use timers::TimerLoop;
