//! How a gigmesh service describes itself, is configured, built and started — one way for
//! the `gigmesh` command, the tests and the benchmarks.
//!
//! - [`Service`] is what a service crate implements once: its [`Description`] (name, gRPC
//!   services, topics produced and consumed, migrations, default port), its settings type,
//!   how it assembles from its [`ServiceDeps`], its routes and background tasks.
//!   [`Service::build`] validates the settings, applies the migrations and creates the
//!   topics before assembling, so every caller builds a service the same way.
//! - [`ServiceEntry`] is a service in the composition root's list ([`service`]); from that
//!   list follow every command, the configuration sections and the gateway's routes.
//! - [`RunningService`] is a built service bound to its port: background tasks spawned, gRPC
//!   served, and on shutdown drained ([`RunningService::run_until_stopped`]).
//! - [`process`] holds what every process does around that: opening the bus and the
//!   database, signals, the metrics endpoint, key refresh.
//! - [`revocation`] makes auth's ended sessions reach every service: each service that serves
//!   signed-in calls stores them and its verifier refuses their tokens.
//! - [`retention`] deletes what every service keeps past its use (inbox, dead letters, the
//!   tables a service declares), in batches, with a metric of what it removed.

mod catalog;
mod deps;
pub mod process;
pub mod retention;
pub mod revocation;
mod running;
mod service;

pub use catalog::{ConfiguredService, ServiceEntry, ServiceSection, service};
pub use deps::ServiceDeps;
pub use revocation::REVOCATION_MIGRATIONS;
pub use running::{Background, RunningService, Serving};
pub use service::{Description, Service, ServiceApp, ServiceConfig, migrate, prepare};
