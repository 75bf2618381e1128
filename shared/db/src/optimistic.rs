//! Optimistic read-modify-write: read a row with its version, change it in memory, write it
//! back only if the version is unchanged, and start over when another writer got there
//! first. The write and its outbox events share the attempt's transaction.
//!
//! Each attempt is a function of the transaction returning a boxed `Send` future, so that a
//! gRPC handler (whose future must be `Send`) can await the loop: with an async closure over
//! `&mut Tx` the compiler cannot prove the handler's future `Send` (the transaction type
//! carries a `'static` lifetime; rust-lang/rust#110338).

use std::future::Future;
use std::pin::Pin;

use crate::error::DbError;
use crate::pool::{Db, Tx};

/// One attempt of [`read_modify_write`], running in (and borrowing) its transaction.
pub type AttemptFuture<'t, T, E> = Pin<Box<dyn Future<Output = Result<Attempt<T>, E>> + Send + 't>>;

/// How often a read-modify-write is tried before the call is answered `ABORTED`.
pub const MAX_CHANGE_ATTEMPTS: usize = 3;

/// What one attempt of a read-modify-write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt<T> {
    /// It wrote (and enqueued its events): commit, and answer `T`.
    Commit(T),
    /// There was nothing to write: answer `T` without committing anything.
    Unchanged(T),
    /// The row changed since it was read (its version moved on): try again from the read.
    Conflict,
}

/// Runs `attempt` in a fresh transaction until it commits or finds nothing to change, at
/// most [`MAX_CHANGE_ATTEMPTS`] times; when every attempt conflicts the answer is
/// [`DbError::ConcurrentChange`] (`ABORTED` for the client). An error from `attempt` ends
/// at once and rolls its transaction back.
pub async fn read_modify_write<T, E>(
    db: &Db,
    mut attempt: impl FnMut(&mut Tx) -> AttemptFuture<'_, T, E> + Send,
) -> Result<T, E>
where
    E: From<DbError>,
{
    for _ in 0..MAX_CHANGE_ATTEMPTS {
        let mut tx = db.begin().await?;
        match attempt(&mut tx).await? {
            Attempt::Commit(value) => {
                tx.commit().await.map_err(DbError::from)?;
                return Ok(value);
            }
            Attempt::Unchanged(value) => return Ok(value),
            Attempt::Conflict => {
                tracing::debug!("changed concurrently, retrying");
            }
        }
    }
    Err(DbError::ConcurrentChange.into())
}
