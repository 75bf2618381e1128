//! The gigmesh payment service: buyers' payments through a payment provider (the embedded
//! sandbox in dev, Stripe in production), the double-entry ledger that holds them in
//! escrow until the order closes, sellers' balances, clearances and withdrawals, invoices
//! with gap-free numbers and their PDF, and admins' refunds with an audit log.
//!
//! It learns orders from orders' `OrderChanged` events and names from auth's and users'
//! events (never a call). An order becomes paid only from a verified provider webhook or a
//! server-side read of the payment, never from what a client says; every money movement
//! is a balanced ledger transaction committed together with its event.

mod api;
mod app;
mod config;
mod error;
mod events;
mod input;
mod invoice_pdf;
pub mod ledger;
mod metrics;
mod output;
mod store;
mod use_cases;

pub use app::{App, MIGRATIONS};
pub use config::{Config, ProviderKind, SandboxSettings, StripeConfig};
pub use events::CONSUMER_NAME;
