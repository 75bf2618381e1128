//! Migration sets kept per backend, several of which may share one database.

use sqlx::migrate::Migrator;

use crate::Backend;

/// One crate's migrations, written once per backend (`migrations/sqlite`,
/// `migrations/postgres`). Build it with [`migrations!`](crate::migrations).
///
/// Several sets are applied to the same database (a service's own tables plus the event
/// tables of shared/events), so each set ignores versions it does not know.
#[derive(Debug)]
pub struct Migrations {
    sqlite: Migrator,
    postgres: Migrator,
}

impl Migrations {
    /// Pairs the two migrators of one crate.
    pub const fn new(mut sqlite: Migrator, mut postgres: Migrator) -> Self {
        sqlite.ignore_missing = true;
        postgres.ignore_missing = true;
        Self { sqlite, postgres }
    }

    /// The migrator for one backend.
    pub fn for_backend(&self, backend: Backend) -> &Migrator {
        match backend {
            Backend::Sqlite => &self.sqlite,
            Backend::Postgres => &self.postgres,
        }
    }
}

/// Embeds the calling crate's `migrations/sqlite` and `migrations/postgres` directories:
/// `pub static MIGRATIONS: gigmesh_db::Migrations = gigmesh_db::migrations!();`
/// The calling crate depends on `sqlx` too (the embedding is done by `sqlx::migrate!`).
#[macro_export]
macro_rules! migrations {
    () => {
        $crate::Migrations::new(
            ::sqlx::migrate!("./migrations/sqlite"),
            ::sqlx::migrate!("./migrations/postgres"),
        )
    };
}
