//! The gigmesh auth service (`gigmesh.auth.v1.AuthService`): it owns accounts and their
//! credentials, sessions and their rotating refresh tokens, and the Ed25519 keys that sign
//! access tokens.
//!
//! Accounts sign up with an email address, a username and a password (argon2id), verify the
//! address with a mailed single-use token and log in with either name. Mailed tokens leave
//! auth only sealed to the notification service's public key (`mail_token.rs`); auth keeps
//! their SHA-256 digests. A log-in opens a
//! session: a short-lived access JWT plus an opaque refresh token that is rotated on every
//! use; presenting a spent refresh token revokes the whole session. Failed log-ins are
//! throttled per account and per client network (IPv4 address or IPv6 /64) with counters in
//! the database; reset and verification mails asked for again within a cooldown are not
//! sent. Everything other services need to know leaves through the outbox on topic
//! `gigmesh.auth.v1`; the seller role is granted from `SellerActivated` on
//! `gigmesh.users.v1`.
//!
//! `api.rs` is the gRPC edge: `input.rs` parses requests into domain values, the use cases
//! in `use_cases/` run them against `store.rs` with the rules of `domain.rs`, and
//! `output.rs` turns their answers into proto messages.

mod api;
mod app;
mod config;
mod counters;
mod credentials;
mod domain;
mod error;
mod events;
mod input;
mod mail_token;
mod output;
mod store;
mod use_cases;

pub use app::{App, DEMO_ACCOUNTS, MIGRATIONS};
pub use config::{Argon2Config, Config, MailTokenPublicKeyConfig, ThrottleConfig};
pub use error::AuthError;
pub use events::CONSUMER_NAME;
