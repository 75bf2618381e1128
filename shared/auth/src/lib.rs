//! Access tokens and who may call what, shared by the auth service (which signs), the gateway
//! and every service (which verify).
//!
//! Access tokens are short-lived EdDSA (Ed25519) JWTs with a `kid` header, issued by and for
//! `gigmesh` ([`ISSUER`], [`AUDIENCE`]). [`SigningKey`] and [`TokenSigner`] belong to the auth
//! service; [`TokenVerifier`] verifies with auth's public keys (a JWKS), fetching them again
//! from a [`JwksSource`] when a token names a key it does not know yet. [`Access`] is the
//! per-method policy the gateway reads from the proto method options, and [`Role`] what an
//! account may be. A verifier given [`RevokedSessions`] also refuses tokens of sessions that
//! ended before their tokens expire. Every token failure is a [`TokenError`] that maps to `UNAUTHENTICATED`
//! with a fixed message.

mod access;
mod bearer;
mod claims;
mod error;
mod keys;
mod revoked;
mod role;
mod verifier;

pub use access::{Access, AccessDenied};
pub use bearer::bearer_token;
pub use claims::{ACCESS_TOKEN_LIFETIME, AUDIENCE, Claims, ISSUER};
pub use error::TokenError;
pub use keys::{SigningKey, TokenSigner};
pub use revoked::RevokedSessions;
pub use role::{Role, UnknownRole};
pub use verifier::{GrpcJwksSource, JwksSource, TokenVerifier};
