//! The gigmesh gig service: owns gigs (what sellers offer, in basic/standard/premium
//! packages with extras, a gallery, requirements and FAQ), their lifecycle (draft -> active
//! <-> paused -> deleted) and moderation, the category taxonomy, and buyers' saved gigs.
//!
//! Buyers see only active, approved gigs; owners and admins see every state. A gig page
//! carries a summary of its seller and the ratings, kept from the users service's
//! `ProfileChanged` and the reviews service's `RatingsChanged` events (never a call). Every
//! change commits together with a `GigChanged` event carrying the whole gig and its version,
//! so read models such as search follow without calling back.

mod api;
mod app;
mod config;
mod domain;
mod error;
mod events;
mod input;
mod output;
mod store;
mod taxonomy;
mod use_cases;

pub use app::{App, MIGRATIONS};
pub use config::Config;
pub use events::CONSUMER_NAME;
pub use taxonomy::{CATEGORIES, Category, Subcategory};
