//! The shared store: one Postgres database every shard reads and writes, with changes announced
//! to all of them through `LISTEN/NOTIFY` (DESIGN.md, "Routing, caching, consistency").

mod listener;

use std::sync::Arc;
use std::time::Duration;

use sqlx::Postgres;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPoolOptions, PgQueryResult};

use crate::StoreError;
use crate::sql::{Driver, SqlBacked, SqlCore, latest};

/// The Postgres schema's migrations, applied by `keyshard migrate`.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Connections one process opens at most.
const MAX_CONNECTIONS: u32 = 16;

/// How long a call waits for a connection before it fails as unavailable. Short, so that while
/// the database is down calls fail promptly with a retryable error instead of hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A [`Store`](crate::Store) in a Postgres database. Clones share the pool and the change listener, which
/// stops when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    core: SqlCore<Postgres>,
    /// Kept for its `Drop`, which stops the listener task.
    _listener: Arc<listener::Listener>,
}

impl PostgresStore {
    /// Connects to the database at `database_url` and starts listening for changes, so that
    /// [`Store::changes`](crate::Store::changes) reports every change committed after this returns. Does not apply
    /// migrations: see [`PostgresStore::migrate`].
    pub async fn connect(database_url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(database_url)
            .await?;
        let core = SqlCore::new(pool);
        let listener = listener::Listener::start(core.pool.clone(), Arc::clone(&core.feed)).await?;
        Ok(Self {
            core,
            _listener: Arc::new(listener),
        })
    }

    /// Applies the migrations the database has not seen yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.core.pool)
            .await
            .map_err(sqlx::Error::from)?;
        Ok(())
    }
}

impl Driver for Postgres {
    // Read committed, whatever the server's default: each statement then sees what committed
    // before it began, so an alias count taken after the key row's lock includes the aliases
    // of the transactions that held it before.
    const BEGIN: &'static str = "BEGIN ISOLATION LEVEL READ COMMITTED";

    const LOCK_KEY: Option<&'static str> =
        Some("SELECT 1 FROM keys WHERE account = $1 AND key_id = $2 FOR UPDATE");

    // The channel is `listener::CHANNEL`.
    const NOTIFY: Option<&'static str> = Some("SELECT pg_notify('keyshard_changes', $1)");

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn latest_migration() -> i64 {
        latest(&MIGRATOR)
    }
}

impl SqlBacked for PostgresStore {
    type DB = Postgres;

    const SYSTEM: &'static str = "postgresql";

    fn core(&self) -> &SqlCore<Postgres> {
        &self.core
    }
}

#[cfg(test)]
mod tests;
