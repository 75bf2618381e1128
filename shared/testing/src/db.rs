//! A fresh, empty database per test, on SQLite or PostgreSQL.

use std::path::PathBuf;

use gigmesh_db::{Backend, Db};
use sqlx::{Connection as _, Executor as _};
use tempfile::TempDir;

/// The PostgreSQL server tests create their databases on; override with
/// `GIGMESH_TEST_POSTGRES_URL` (it must name a database the user can connect to, such as
/// `postgres`, and the user must be allowed to create databases).
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Connections per test pool: enough for a consumer, a relay and a request at once.
const TEST_POOL_SIZE: u32 = 5;

/// An empty database that exists for one test: a SQLite file in a temporary directory, or a
/// PostgreSQL database `gm_test_<uuid>` that is dropped (with its connections) on drop.
pub struct TestDatabase {
    db: Db,
    url: String,
    backend: Backend,
    cleanup: Cleanup,
}

enum Cleanup {
    /// The directory holding the SQLite file; removed on drop.
    SqliteDirectory { _directory: TempDir },
    /// The PostgreSQL database to drop, and where to connect to drop it.
    PostgresDatabase { server_url: String, name: String },
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TestDatabase")
            .field("backend", &self.backend)
            .field("url", &self.url)
            .finish()
    }
}

impl TestDatabase {
    /// A fresh database on `backend`.
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite().await,
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A fresh SQLite file in a new temporary directory.
    pub async fn sqlite() -> Self {
        let directory = tempfile::tempdir().expect("create a temporary directory for SQLite");
        let path: PathBuf = directory.path().join("test.db");
        let url = format!("sqlite://{}", path.display());
        let db = Db::connect(&url, TEST_POOL_SIZE)
            .await
            .unwrap_or_else(|error| panic!("open test SQLite database {url}: {error:?}"));
        Self {
            db,
            url,
            backend: Backend::Sqlite,
            cleanup: Cleanup::SqliteDirectory {
                _directory: directory,
            },
        }
    }

    /// A fresh PostgreSQL database `gm_test_<uuid>` on the test server.
    pub async fn postgres() -> Self {
        let server_url = postgres_server_url();
        let name = format!("gm_test_{}", uuid::Uuid::new_v4().simple());
        let url = database_url(&server_url, &name);
        Db::ensure_database(&url).await.unwrap_or_else(|error| {
            panic!(
                "create test database {name} on {server_url} (is PostgreSQL running? \
                 set GIGMESH_TEST_POSTGRES_URL to use another server): {error:?}"
            )
        });
        let db = Db::connect(&url, TEST_POOL_SIZE)
            .await
            .unwrap_or_else(|error| panic!("connect to test database {url}: {error:?}"));
        Self {
            db,
            url,
            backend: Backend::Postgres,
            cleanup: Cleanup::PostgresDatabase { server_url, name },
        }
    }

    /// The connection URL, to start an app on the same database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A pool on the database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Which engine the database runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::PostgresDatabase { server_url, name } = &self.cleanup else {
            return;
        };
        let server_url = server_url.clone();
        let name = name.clone();
        // Drop runs inside the test's runtime, where blocking on async work is not allowed:
        // drop the database from a thread with its own runtime. Best effort: a failure only
        // leaves an empty database behind.
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(mut connection) = sqlx::PgConnection::connect(&server_url).await else {
                    return;
                };
                let statement = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                if let Err(error) = connection.execute(statement.as_str()).await {
                    eprintln!("could not drop test database {name}: {error}");
                }
                let _ = connection.close().await;
            });
        });
        let _ = dropper.join();
    }
}

fn postgres_server_url() -> String {
    std::env::var("GIGMESH_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// The server URL with its database replaced by `name`.
fn database_url(server_url: &str, name: &str) -> String {
    let (without_query, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_end = without_query
        .find("://")
        .map(|scheme_end| {
            let after_scheme = scheme_end + 3;
            without_query[after_scheme..]
                .find('/')
                .map_or(without_query.len(), |slash| after_scheme + slash)
        })
        .unwrap_or(without_query.len());
    let mut url = format!("{}/{name}", &without_query[..authority_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_replaces_the_database() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "gm_test_1"),
            "postgres://postgres@127.0.0.1:5432/gm_test_1"
        );
        assert_eq!(
            database_url("postgres://u:p@h/postgres?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
