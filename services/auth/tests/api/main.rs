//! Integration tests of `gigmesh.auth.v1.AuthService` through its gRPC surface, each on a
//! fresh SQLite database and on a fresh PostgreSQL database.

mod support;

mod accounts;
mod admin;
mod hashing;
mod log_in;
mod passwords;
mod retention;
mod revocations;
mod roles;
mod sessions;
