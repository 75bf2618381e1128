//! The pool, migrations and error mapping on both backends.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use gigmesh_db::{
    Attempt, Backend, Db, DbError, MAX_CHANGE_ATTEMPTS, Migrations, get_bool, read_modify_write,
};
use gigmesh_errors::ApiError;
use gigmesh_testing::TestDatabase;
use sqlx::Row as _;

static FIRST: Migrations = Migrations::new(
    sqlx::migrate!("./tests/migrations/first/sqlite"),
    sqlx::migrate!("./tests/migrations/first/postgres"),
);
static SECOND: Migrations = Migrations::new(
    sqlx::migrate!("./tests/migrations/second/sqlite"),
    sqlx::migrate!("./tests/migrations/second/postgres"),
);

async fn insert_account(db: &Db, id: &str, email: &str) -> Result<(), DbError> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO accounts (id, email, verified, balance_minor) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(email)
    .bind(true)
    .bind(0_i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn migration_sets_share_one_database_in_any_order(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let db = database.db();

    db.migrate(&[&SECOND]).await.unwrap();
    db.migrate(&[&FIRST, &SECOND]).await.unwrap();
    db.migrate(&[&FIRST]).await.unwrap();

    insert_account(db, "a1", "a@example.com").await.unwrap();
    sqlx::query("INSERT INTO audit_log (id, message) VALUES ($1, $2)")
        .bind("l1")
        .bind("created")
        .execute(db.pool())
        .await
        .unwrap();
    let applied: i64 = sqlx::query("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, 3);
}

async fn constraint_violations_are_classified(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let db = database.db();
    db.migrate(&[&FIRST]).await.unwrap();
    insert_account(db, "a1", "a@example.com").await.unwrap();

    let duplicate = insert_account(db, "a2", "a@example.com").await.unwrap_err();
    assert!(
        duplicate.is_unique_violation_on("email"),
        "unexpected error: {duplicate:?}"
    );
    assert!(matches!(
        ApiError::from(duplicate),
        ApiError::AlreadyExists(_)
    ));

    let orphan = sqlx::query("INSERT INTO sessions (id, account_id) VALUES ($1, $2)")
        .bind("s1")
        .bind("missing")
        .execute(db.pool())
        .await
        .map_err(DbError::from)
        .unwrap_err();
    assert!(
        matches!(orphan, DbError::ForeignKeyViolation { .. }),
        "unexpected error: {orphan:?}"
    );
}

async fn booleans_round_trip(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let db = database.db();
    db.migrate(&[&FIRST]).await.unwrap();
    insert_account(db, "a1", "a@example.com").await.unwrap();

    let row = sqlx::query("SELECT verified FROM accounts WHERE verified = $1")
        .bind(true)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(get_bool(&row, "verified").unwrap());
}

async fn rolled_back_transactions_leave_nothing(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let db = database.db();
    db.migrate(&[&FIRST]).await.unwrap();

    let mut tx = db.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO accounts (id, email, verified, balance_minor) VALUES ($1, $2, $3, $4)",
    )
    .bind("a1")
    .bind("a@example.com")
    .bind(false)
    .bind(0_i64)
    .execute(&mut *tx)
    .await
    .unwrap();
    drop(tx);

    let count: i64 = sqlx::query("SELECT COUNT(*) FROM accounts")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
}

/// A transaction that asks for the commit signal raises it when it commits, for every
/// watcher of the pool and its clones; a rollback, or a commit that did not ask, does not.
async fn commits_that_ask_raise_the_signal(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let db = database.db();
    db.migrate(&[&FIRST]).await.unwrap();
    let mut relay = db.watch_commits();
    let mut other = db.clone().watch_commits();
    let not_yet = Duration::from_millis(200);

    let tx = db.begin().await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    tx.signal_on_commit();
    tx.rollback().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    tx.signal_on_commit();
    drop(tx);
    assert!(
        tokio::time::timeout(not_yet, relay.committed())
            .await
            .is_err(),
        "raised without a commit that asked"
    );

    let mut tx = db.begin().await.unwrap();
    tx.signal_on_commit();
    let waiting = tokio::spawn(async move {
        relay.committed().await;
        relay
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished(), "raised before the commit");
    tx.commit().await.unwrap();
    let mut relay = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting watcher hears of the commit")
        .unwrap();
    // Each watcher hears of it; commits it already heard of are not heard again.
    tokio::time::timeout(Duration::from_secs(5), other.committed())
        .await
        .expect("every watcher hears of the commit");
    assert!(
        tokio::time::timeout(not_yet, relay.committed())
            .await
            .is_err()
    );
}

/// Read-modify-write transactions from many tasks at once all succeed and none is lost:
/// PostgreSQL locks the row (`FOR UPDATE`); on SQLite, which has no row locks, the write lock
/// taken by `BEGIN IMMEDIATE` serialises the transactions.
async fn concurrent_writers_do_not_fail(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let db = database.db().clone();
    db.migrate(&[&FIRST]).await.unwrap();
    insert_account(&db, "a1", "a@example.com").await.unwrap();
    let select = match backend {
        Backend::Sqlite => "SELECT balance_minor FROM accounts WHERE id = $1",
        Backend::Postgres => "SELECT balance_minor FROM accounts WHERE id = $1 FOR UPDATE",
    };

    let writers = 24;
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin().await?;
            let balance: i64 = sqlx::query(select)
                .bind("a1")
                .fetch_one(&mut *tx)
                .await?
                .get(0);
            tokio::task::yield_now().await;
            sqlx::query("UPDATE accounts SET balance_minor = $1 WHERE id = $2")
                .bind(balance + 100)
                .bind("a1")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, DbError>(())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let balance: i64 = sqlx::query("SELECT balance_minor FROM accounts WHERE id = $1")
        .bind("a1")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(balance, 100 * writers);
}

macro_rules! on_both_backends {
    ($($scenario:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(gigmesh_db::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(gigmesh_db::Backend::Postgres).await;
                }
            )+
        }
    };
}

on_both_backends!(
    migration_sets_share_one_database_in_any_order,
    constraint_violations_are_classified,
    booleans_round_trip,
    rolled_back_transactions_leave_nothing,
    commits_that_ask_raise_the_signal,
);

#[tokio::test]
async fn sqlite_connections_use_wal_and_foreign_keys() {
    let database = TestDatabase::sqlite().await;
    let row = sqlx::query("PRAGMA journal_mode")
        .fetch_one(database.db().pool())
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), "wal");
    let row = sqlx::query("PRAGMA foreign_keys")
        .fetch_one(database.db().pool())
        .await
        .unwrap();
    assert_eq!(row.get::<i64, _>(0), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_writers_do_not_fail() {
    concurrent_writers_do_not_fail(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_writers_do_not_fail() {
    concurrent_writers_do_not_fail(Backend::Postgres).await;
}

#[tokio::test]
async fn ensure_database_creates_a_missing_postgres_database_once() {
    let database = TestDatabase::postgres().await;
    let url = database.url().replace("gm_test_", "gm_test_ensure_");
    Db::ensure_database(&url).await.unwrap();
    Db::ensure_database(&url).await.unwrap();
    let db = Db::connect(&url, 1).await.unwrap();
    sqlx::query("SELECT 1").execute(db.pool()).await.unwrap();
    db.close().await;

    let server = database.db();
    let name = url.rsplit('/').next().unwrap().to_owned();
    sqlx::query(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(server.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn ensure_database_creates_the_sqlite_directory() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("nested/dir/service.db");
    let url = format!("sqlite://{}", path.display());
    Db::ensure_database(&url).await.unwrap();
    let db = Db::connect(&url, 2).await.unwrap();
    assert_eq!(db.backend(), Backend::Sqlite);
    db.close().await;
    assert!(path.is_file());
}

// read_modify_write: the one optimistic retry loop.

#[tokio::test]
async fn conflicts_are_retried_until_the_attempts_run_out() {
    let database = TestDatabase::sqlite().await;
    let mut attempts = 0;
    let committed: Result<usize, DbError> = read_modify_write(database.db(), |_tx| {
        attempts += 1;
        let attempt = attempts;
        Box::pin(async move {
            Ok(if attempt < MAX_CHANGE_ATTEMPTS {
                Attempt::Conflict
            } else {
                Attempt::Commit(attempt)
            })
        })
    })
    .await;
    assert_eq!(committed.unwrap(), MAX_CHANGE_ATTEMPTS);

    let mut attempts = 0;
    let lost: Result<(), DbError> = read_modify_write(database.db(), |_tx| {
        attempts += 1;
        Box::pin(async { Ok(Attempt::Conflict) })
    })
    .await;
    assert!(matches!(lost, Err(DbError::ConcurrentChange)));
    assert_eq!(attempts, MAX_CHANGE_ATTEMPTS);
}

#[tokio::test]
async fn nothing_to_change_and_errors_end_at_once() {
    let database = TestDatabase::sqlite().await;
    let mut attempts = 0;
    let unchanged: Result<&str, DbError> = read_modify_write(database.db(), |_tx| {
        attempts += 1;
        Box::pin(async { Ok(Attempt::Unchanged("as it was")) })
    })
    .await;
    assert_eq!(unchanged.unwrap(), "as it was");
    assert_eq!(attempts, 1);

    let mut attempts = 0;
    let failed: Result<(), DbError> = read_modify_write(database.db(), |_tx| {
        attempts += 1;
        Box::pin(async { Err(DbError::ForeignKeyViolation { constraint: None }) })
    })
    .await;
    assert!(matches!(failed, Err(DbError::ForeignKeyViolation { .. })));
    assert_eq!(attempts, 1);
}
