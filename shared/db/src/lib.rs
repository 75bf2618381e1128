//! Database access for every gigmesh service, on SQLite (embedded mode) or PostgreSQL
//! (distributed mode) through one `sqlx::Any` pool.
//!
//! [`Db`] owns the pool and knows its [`Backend`]: it applies the SQLite pragmas gigmesh
//! relies on (WAL, busy timeout, foreign keys), begins transactions that are safe under
//! concurrent writers, and runs [`Migrations`] kept per backend. [`DbError`] classifies
//! failures once (unique and foreign-key violations, an unavailable database) and maps them
//! to [`gigmesh_errors::ApiError`]; [`read_modify_write`] is the one optimistic-retry loop. Queries are written once in the portable SQL subset with
//! `$1, $2` placeholders; see [`get_bool`] for the one type the two backends disagree on.

mod error;
mod migrations;
mod optimistic;
mod pool;
mod row;

pub use error::DbError;
pub use migrations::Migrations;
pub use optimistic::{Attempt, AttemptFuture, MAX_CHANGE_ATTEMPTS, read_modify_write};
pub use pool::{Backend, CommitWatcher, Db, Tx};
pub use row::get_bool;
