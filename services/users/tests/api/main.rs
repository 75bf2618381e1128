//! Integration tests of `gigmesh.users.v1.UserService` through its gRPC surface, each on a
//! fresh SQLite database and on a fresh PostgreSQL database. Profiles come to life the way
//! they do in production: auth's events are published to an embedded bus and the service's
//! consumer is stepped with `poll_once`; what the service emits is read back from the bus
//! after stepping its outbox relay.

mod support;

mod access;
mod profile_updates;
mod public_profiles;
mod registration;
mod revoked_sessions;
mod sellers;
mod suspension;
