//! Serving gRPC the gigmesh way, written once for every service and the gateway.
//!
//! - [`serve`] runs a service's routes with health, reflection, per-RPC traces and metrics,
//!   timeouts, concurrency limits and load shedding, and drains in-flight calls on shutdown.
//! - [`CallerLayer`] verifies the bearer token of every call (again, after the gateway) and
//!   puts the [`Claims`](gigmesh_auth::Claims) where handlers find them with [`caller`].
//! - [`GrpcMetricsLayer`] records `grpc_server_handled_total` and
//!   `grpc_server_handling_seconds` for every RPC.
//! - [`ServiceDeps`] is what every service's `App::build` receives.

mod caller;
mod deps;
mod metrics;
mod serve;

pub use caller::{CallerLayer, caller, client_address, user_agent, with_caller};
pub use deps::ServiceDeps;
pub use metrics::{GrpcMetricsLayer, grpc_code_name, split_grpc_path};
pub use serve::{ServeOptions, reflection_routes, serve};
