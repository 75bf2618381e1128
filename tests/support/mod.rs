//! Support for the end-to-end tests: starting the mesh as real processes, calling it over
//! gRPC and grpc-web, and reading the mail it sends.

#![allow(dead_code)]

pub mod flows;
pub mod mail;
pub mod mesh;
pub mod rpc;
