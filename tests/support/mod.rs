//! Support for the end-to-end tests: starting the mesh as real processes (behind Envoy in
//! distributed mode), calling it over gRPC and grpc-web, and reading the mail it sends.

#![allow(dead_code)]

pub mod edge;
pub mod flows;
pub mod load;
pub mod mail;
pub mod mesh;
pub mod rpc;
