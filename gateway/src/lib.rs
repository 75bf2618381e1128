//! The one public entry of gigmesh.
//!
//! Web apps (grpc-web), mobile apps (native gRPC) and tooling (grpcurl through reflection)
//! all call one port. The gateway translates grpc-web, answers CORS, verifies the access
//! token and enforces each method's access policy (declared in the protos with
//! `(gigmesh.api.v1.access)`), rate-limits sensitive public methods per client address,
//! caps request message sizes, and forwards each call to the service that owns it, by the
//! `/<package>.<Service>/` prefix of its path, without decoding the messages. It answers
//! health checks and server reflection for every gigmesh service itself. Its own refusals
//! are gRPC trailers-only answers, which native and grpc-web clients both read.
//!
//! A token that is present is always verified, also on public methods: an invalid or
//! expired token is `UNAUTHENTICATED` everywhere, the same answer the services give, which
//! surfaces client bugs instead of hiding them. A method that declares no access policy is
//! refused (`PERMISSION_DENIED`); an unknown service or method is `UNIMPLEMENTED`.
//!
//! Besides gRPC, the gateway answers a few HTTP routes: the HTML pages that the links of
//! gigmesh's mails open (verifying an address, resetting a password), for when no web app
//! takes them over; the sandbox payment provider's checkout page; and the payment
//! provider's webhooks (`POST /webhooks/stripe`), handed to payments as received.

mod checkout_page;
mod client_address;
mod config;
mod mail_pages;
mod message_size;
mod pages;
mod policy;
mod rate_limit;
mod resolve;
mod server;
mod service;
mod upstream;
mod webhooks;

pub use config::GatewayConfig;
pub use resolve::{DnsResolver, RefreshOutcome, ResolveAddresses, UpstreamDiscovery};
pub use server::Gateway;
pub use upstream::Upstream;
