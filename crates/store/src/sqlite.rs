//! The embedded store: one SQLite database file in WAL mode, for `keyshard dev` and tests.

use std::path::Path;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult};

use crate::StoreError;
use crate::sql::{Driver, SqlBacked, SqlCore, latest};

/// The embedded store's migrations, applied whenever it opens.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How long a statement waits for another connection's lock before it fails as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`](crate::Store) kept in one SQLite database file. Only the process that opened it caches what it
/// holds, so it announces its changes in that process alone.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    core: SqlCore<Sqlite>,
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file if it is missing, and applies any
    /// migrations it has not seen.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new().connect_with(options).await?;

        MIGRATOR.run(&pool).await.map_err(sqlx::Error::from)?;
        Ok(Self {
            core: SqlCore::new(pool),
        })
    }
}

impl Driver for Sqlite {
    // IMMEDIATE takes the write lock at once (waiting up to the busy timeout), so no other
    // writer can slip in between a transaction's reads and its writes.
    const BEGIN: &'static str = "BEGIN IMMEDIATE";

    const LOCK_KEY: Option<&'static str> = None;

    const NOTIFY: Option<&'static str> = None;

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn latest_migration() -> i64 {
        latest(&MIGRATOR)
    }
}

impl SqlBacked for SqliteStore {
    type DB = Sqlite;

    const SYSTEM: &'static str = "sqlite";

    fn core(&self) -> &SqlCore<Sqlite> {
        &self.core
    }
}

#[cfg(test)]
mod tests;
