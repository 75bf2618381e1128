//! The gateway in front of fake auth and users services, called with native gRPC and with
//! grpc-web over HTTP/1.1, with the services in process and behind a channel; and the mail
//! pages in front of a real auth service.

#![allow(clippy::unwrap_used)]

mod support;

mod access_policy;
mod balancing;
mod call_context;
mod call_metrics;
mod cors;
mod health_and_reflection;
mod lifecycle;
mod limits;
mod mail_pages;
mod payment_routes;
mod routing;
