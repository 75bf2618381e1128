//! The connection pool for either backend, with the per-connection setup each one needs.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Connection as _, Executor as _};
use url::Url;

use crate::{DbError, Migrations};

/// A transaction on either backend. Commit it explicitly; dropping it rolls back.
///
/// It dereferences to the connection, so `&mut **tx` (or `&mut *tx` on an owned one) is
/// an executor. A transaction can ask to [raise its database's commit signal]
/// (Tx::signal_on_commit) once it has committed: how the outbox wakes its relay.
pub struct Tx {
    transaction: sqlx::Transaction<'static, sqlx::Any>,
    commit_signal: CommitSignal,
    signal_on_commit: bool,
}

impl Tx {
    /// Commits; then raises the commit signal if [`Tx::signal_on_commit`] was called.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.transaction.commit().await?;
        if self.signal_on_commit {
            self.commit_signal.raise();
        }
        Ok(())
    }

    /// Rolls back (as dropping does, but waiting for it and reporting a failure).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.transaction.rollback().await
    }

    /// Raises its database's commit signal ([`Db::watch_commits`]) when this transaction commits (never when it rolls back),
    /// so a task waiting for what it wrote runs at once instead of at its next poll.
    pub fn signal_on_commit(&mut self) {
        self.signal_on_commit = true;
    }
}

impl Deref for Tx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.transaction
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.transaction
    }
}

impl fmt::Debug for Tx {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Tx")
            .field("signal_on_commit", &self.signal_on_commit)
            .finish_non_exhaustive()
    }
}

/// Raised by transactions of one [`Db`] (in this process) that asked for it, when they
/// commit. Each [`CommitWatcher`] hears of it on its own; raises it has not yet waited for
/// are folded into one.
#[derive(Debug, Clone)]
pub(crate) struct CommitSignal(Arc<tokio::sync::watch::Sender<u64>>);

impl Default for CommitSignal {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::watch::Sender::new(0)))
    }
}

impl CommitSignal {
    /// A watcher that hears of commits from now on.
    pub(crate) fn watch(&self) -> CommitWatcher {
        CommitWatcher(self.0.subscribe())
    }

    fn raise(&self) {
        self.0
            .send_modify(|commits| *commits = commits.wrapping_add(1));
    }
}

/// Waits for commits that raise a [`CommitSignal`].
#[derive(Debug)]
pub struct CommitWatcher(tokio::sync::watch::Receiver<u64>);

impl CommitWatcher {
    /// Returns once a transaction that asked for the signal has committed since this
    /// watcher last returned (at once if one already has). Cancel-safe.
    pub async fn committed(&mut self) {
        if self.0.changed().await.is_err() {
            // Unreachable while the watcher's owner holds the `Db`; never spin if not.
            std::future::pending::<()>().await;
        }
    }
}

/// How long a SQLite statement waits for another connection's write lock before it fails
/// with "database is locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a caller waits for a free pooled connection before the database counts as
/// unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A pooled connection idle for longer than this is pinged before it is handed out; one
/// used more recently is trusted (as HikariCP's `aliveBypassWindowMs` does). Pinging every
/// checkout would add a round trip to each statement run on the pool and to each
/// transaction: under load, a third of a short request's round trips.
const PING_CONNECTIONS_IDLE_FOR: Duration = Duration::from_secs(1);

/// The database engine behind a [`Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// One SQLite file per service (embedded mode).
    Sqlite,
    /// One PostgreSQL database per service (distributed mode).
    Postgres,
}

impl Backend {
    /// Both backends, for tests that must pass on each.
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

    /// The backend a connection URL names: `sqlite:` or `postgres://` / `postgresql://`.
    pub fn from_url(url: &str) -> Result<Self, DbError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(DbError::InvalidUrl {
                url: redact_url(url),
                reason: "expected a sqlite: or postgres:// URL".to_owned(),
            })
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A pool of connections to one service database.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    commit_signal: CommitSignal,
}

impl fmt::Debug for Db {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Db")
            .field("backend", &self.backend)
            .field("size", &self.pool.size())
            .finish()
    }
}

impl Db {
    /// Opens a pool of at most `max_connections` connections.
    ///
    /// `sqlite:///abs/path.db` or `sqlite://relative.db` creates the file when missing;
    /// `postgres://...` needs an existing database (see [`Db::ensure_database`]).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, DbError> {
        install_drivers();
        let backend = Backend::from_url(url)?;
        let options = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(|connection, metadata| {
                Box::pin(async move {
                    if metadata.idle_for < PING_CONNECTIONS_IDLE_FOR {
                        return Ok(true);
                    }
                    // A connection that does not answer is dropped and another one taken.
                    Ok(connection.ping().await.is_ok())
                })
            });
        let pool = match backend {
            Backend::Sqlite => {
                options
                    .after_connect(|connection, _metadata| {
                        Box::pin(async move { apply_sqlite_pragmas(connection).await })
                    })
                    .connect(&sqlite_url_creating_file(url))
                    .await
            }
            Backend::Postgres => options.connect(url).await,
        }
        .map_err(|error| DbError::connect(url, error))?;
        tracing::debug!(backend = %backend, "database pool ready");
        Ok(Db {
            pool,
            backend,
            commit_signal: CommitSignal::default(),
        })
    }

    /// Makes sure the database a URL names can be connected to: on PostgreSQL it creates the
    /// database when missing (connecting to the server's `postgres` database to do so); on
    /// SQLite it creates the file's parent directory.
    pub async fn ensure_database(url: &str) -> Result<(), DbError> {
        install_drivers();
        match Backend::from_url(url)? {
            Backend::Sqlite => {
                let Some(path) = sqlite_path(url) else {
                    return Ok(());
                };
                if let Some(parent) = path
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(parent).map_err(|error| DbError::InvalidUrl {
                        url: redact_url(url),
                        reason: format!("cannot create directory {}: {error}", parent.display()),
                    })?;
                }
                Ok(())
            }
            Backend::Postgres => ensure_postgres_database(url).await,
        }
    }

    /// Which engine this pool talks to, for the few statements that differ.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The underlying pool, for queries outside a transaction.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction.
    ///
    /// On SQLite this is `BEGIN IMMEDIATE`: the write lock is taken up front, so concurrent
    /// writers queue on the busy timeout instead of failing. A deferred transaction that reads
    /// first and writes later cannot wait for the lock (SQLite answers `SQLITE_BUSY` at once
    /// when another connection committed in between), which would surface as random
    /// failures under load. Readers outside transactions are not blocked (WAL).
    pub async fn begin(&self) -> Result<Tx, DbError> {
        let transaction = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Tx {
            transaction,
            commit_signal: self.commit_signal.clone(),
            signal_on_commit: false,
        })
    }

    /// Watches for commits of this pool's transactions (and its clones') that called
    /// [`Tx::signal_on_commit`]. Writers in other processes do not raise the signal.
    pub fn watch_commits(&self) -> CommitWatcher {
        self.commit_signal.watch()
    }

    /// Applies every migration set, in order, for this backend. Sets share the database's
    /// migration table, so their version numbers must not overlap (services use 1 and up,
    /// shared/events uses 900000000 and up).
    pub async fn migrate(&self, sets: &[&Migrations]) -> Result<(), DbError> {
        for set in sets {
            set.for_backend(self.backend).run(&self.pool).await?;
        }
        Ok(())
    }

    /// Closes every connection, waiting for the ones in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn install_drivers() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(sqlx::any::install_default_drivers);
}

/// Settings every SQLite connection needs: wait for locks instead of failing, enforce
/// foreign keys (off by default in SQLite), and use the write-ahead log so readers never
/// block the writer. WAL is a property of the file; setting it again is a no-op.
async fn apply_sqlite_pragmas(connection: &mut AnyConnection) -> Result<(), sqlx::Error> {
    let busy_timeout = format!("PRAGMA busy_timeout = {}", SQLITE_BUSY_TIMEOUT.as_millis());
    connection.execute(busy_timeout.as_str()).await?;
    connection.execute("PRAGMA foreign_keys = ON").await?;
    connection.execute("PRAGMA journal_mode = WAL").await?;
    Ok(())
}

/// Adds `mode=rwc` (read, write, create) unless the URL already chooses a mode.
fn sqlite_url_creating_file(url: &str) -> String {
    let (_, query) = url.split_once('?').unwrap_or((url, ""));
    let in_memory = sqlite_path(url).is_none();
    if in_memory || query.split('&').any(|pair| pair.starts_with("mode=")) {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}mode=rwc")
}

/// The file a SQLite URL points at, or `None` for an in-memory database.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let without_scheme = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = without_scheme.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(Path::new(path).to_path_buf())
}

async fn ensure_postgres_database(url: &str) -> Result<(), DbError> {
    let invalid = |reason: &str| DbError::InvalidUrl {
        url: redact_url(url),
        reason: reason.to_owned(),
    };
    let mut server_url = Url::parse(url).map_err(|error| invalid(&error.to_string()))?;
    let database = server_url.path().trim_start_matches('/').to_owned();
    if database.is_empty() {
        return Err(invalid("the URL names no database"));
    }
    server_url.set_path("/postgres");

    let mut connection = AnyConnection::connect(server_url.as_str())
        .await
        .map_err(|error| DbError::connect(url, error))?;
    let exists = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&database)
        .fetch_optional(&mut connection)
        .await?
        .is_some();
    if !exists {
        let create = format!("CREATE DATABASE {}", quote_identifier(&database));
        match connection.execute(create.as_str()).await {
            Ok(_) => tracing::info!(database = %database, "created database"),
            // Another process created it between our check and our CREATE.
            Err(error) if is_duplicate_database(&error) => {}
            Err(error) => return Err(error.into()),
        }
    }
    connection.close().await?;
    Ok(())
}

fn is_duplicate_database(error: &sqlx::Error) -> bool {
    let Some(database_error) = error.as_database_error() else {
        return false;
    };
    // 42P04 duplicate_database; 23505 when two CREATE DATABASE race on pg_database's index.
    matches!(database_error.code().as_deref(), Some("42P04" | "23505"))
}

/// Quotes a PostgreSQL identifier (database names cannot be bound as parameters).
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The URL without its password, for error messages and logs.
pub(crate) use gigmesh_config::redact_url;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_gain_create_mode_once() {
        assert_eq!(
            sqlite_url_creating_file("sqlite:///tmp/a.db"),
            "sqlite:///tmp/a.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url_creating_file("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            sqlite_url_creating_file("sqlite://a.db?mode=ro"),
            "sqlite://a.db?mode=ro"
        );
        assert_eq!(
            sqlite_url_creating_file("sqlite::memory:"),
            "sqlite::memory:"
        );
    }

    #[test]
    fn sqlite_paths_are_read_from_both_url_forms() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/gigmesh/auth.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/gigmesh/auth.db"))
        );
        assert_eq!(
            sqlite_path("sqlite://data/auth.db"),
            Some(PathBuf::from("data/auth.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }

    #[test]
    fn backend_is_read_from_the_scheme() {
        assert_eq!(Backend::from_url("sqlite://a.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::from_url("postgresql://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert!(Backend::from_url("mysql://u@h/db").is_err());
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("gm\"x"), "\"gm\"\"x\"");
    }
}
