//! Serving gRPC the gigmesh way, written once for every service and the gateway.
//!
//! - [`serve`] runs a service's routes with health, reflection, per-RPC traces and metrics,
//!   timeouts, concurrency limits and load shedding, and drains in-flight calls on shutdown.
//! - [`CallerLayer`] verifies the bearer token of every call (again, after the gateway) and
//!   puts the [`Caller`] it proves where handlers find it with [`Caller::of`].
//! - [`GrpcMetricsLayer`] records `grpc_server_handled_total` and
//!   `grpc_server_handling_seconds` for every RPC.

mod caller;
mod metrics;
mod serve;

pub use caller::{Caller, CallerLayer, client_address, user_agent, with_caller};
pub use metrics::{GrpcMetricsLayer, grpc_code_name, split_grpc_path};
pub use serve::{ServeOptions, reflection_routes, serve};
