//! The embedded store: one SQLite database file in WAL mode, for `keyshard dev` and tests.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use keyshard_core::id::{AccountId, AliasName, KeyId};
use keyshard_core::spec::{KeySpec, KeyState, KeyUsage, Origin};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow,
};

use crate::error::{Classified, classify};
use crate::{AliasRecord, KeyRecord, KeyVersion, Millis, Store, StoreError};

/// How long a statement waits for another connection's lock before it fails as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times a write transaction is run before a busy database counts as unavailable.
const WRITE_ATTEMPTS: u32 = 3;

/// A [`Store`] kept in one SQLite database file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
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

        sqlx::migrate!("../../migrations/sqlite")
            .run(&pool)
            .await
            .map_err(sqlx::Error::from)?;
        Ok(Self { pool })
    }

    /// Runs `body` in a write transaction, committing if it succeeds and rolling back if not.
    /// A busy database runs the whole body again, a bounded number of times.
    async fn write<B: WriteBody>(&self, body: &B) -> Result<B::Output, StoreError> {
        let mut attempt = 1;
        loop {
            let err = match self.write_once(body).await {
                Ok(value) => return Ok(value),
                Err(Abort::Refused(err)) => return Err(err),
                Err(Abort::Database(err)) => err,
            };

            match classify(err) {
                Classified::Retryable(err) if attempt < WRITE_ATTEMPTS => {
                    let operation = B::OP.as_str();
                    tracing::warn!(operation, attempt, error = %err, "database busy, retrying");
                    attempt += 1;
                }
                Classified::Retryable(err) => return Err(StoreError::Unavailable(err)),
                Classified::Final(err) => return Err(err),
            }
        }
    }

    async fn write_once<B: WriteBody>(&self, body: &B) -> Result<B::Output, Abort> {
        // IMMEDIATE takes the write lock at once (waiting up to the busy timeout), so no other
        // writer can slip in between a body's reads and its writes.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;

        match body.run(&mut tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(abort) => {
                let operation = B::OP.as_str();
                if let Err(err) = tx.rollback().await {
                    tracing::warn!(operation, error = %err, "rollback failed");
                }
                tracing::debug!(operation, "transaction rolled back");
                Err(abort)
            }
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    #[tracing::instrument(
        skip_all,
        name = "store.sqlite.create_key",
        fields(account = %key.account, key_id = %key.key_id)
    )]
    async fn create_key(
        &self,
        key: &KeyRecord,
        first_version: &KeyVersion,
    ) -> Result<(), StoreError> {
        self.write(&InsertKey { key, first_version }).await
    }

    #[tracing::instrument(skip_all, name = "store.sqlite.key", fields(%account, %key_id))]
    async fn key(
        &self,
        account: &AccountId,
        key_id: KeyId,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT description, key_spec, key_usage, origin, state, created_at, deletion_date, \
             current_version FROM keys WHERE account = ? AND key_id = ?",
        )
        .bind(account.as_str())
        .bind(key_id.to_string())
        .fetch_optional(&self.pool)
        .await?;

        let Some(row) = row else { return Ok(None) };
        Ok(Some(KeyRecord {
            account: account.clone(),
            key_id,
            description: row.try_get("description")?,
            key_spec: decode_text(&row, "key_spec", KeySpec::parse)?,
            key_usage: decode_text(&row, "key_usage", KeyUsage::parse)?,
            origin: decode_text(&row, "origin", Origin::parse)?,
            state: decode_text(&row, "state", KeyState::parse)?,
            created_at: row.try_get("created_at")?,
            deletion_date: row.try_get("deletion_date")?,
            current_version: decode_version(&row, "current_version")?,
        }))
    }

    #[tracing::instrument(
        skip_all,
        name = "store.sqlite.key_version",
        fields(%account, %key_id, version = version)
    )]
    async fn key_version(
        &self,
        account: &AccountId,
        key_id: KeyId,
        version: u32,
    ) -> Result<Option<KeyVersion>, StoreError> {
        let row = sqlx::query(
            "SELECT root_key_id, wrapped_material, created_at FROM key_versions \
             WHERE account = ? AND key_id = ? AND version = ?",
        )
        .bind(account.as_str())
        .bind(key_id.to_string())
        .bind(i64::from(version))
        .fetch_optional(&self.pool)
        .await?;

        let Some(row) = row else { return Ok(None) };
        Ok(Some(KeyVersion {
            key_id,
            version,
            root_key_id: row.try_get("root_key_id")?,
            wrapped_material: row.try_get("wrapped_material")?,
            created_at: row.try_get("created_at")?,
        }))
    }

    #[tracing::instrument(skip_all, name = "store.sqlite.list_keys", fields(%account))]
    async fn list_keys(
        &self,
        account: &AccountId,
        after: Option<KeyId>,
        limit: u32,
    ) -> Result<Vec<KeyId>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_id FROM keys WHERE account = ?1 AND (?2 IS NULL OR key_id > ?2) \
             ORDER BY key_id LIMIT ?3",
        )
        .bind(account.as_str())
        .bind(after.map(|id| id.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;

        rows.iter()
            .map(|row| decode_text(row, "key_id", KeyId::parse))
            .collect()
    }

    #[tracing::instrument(
        skip_all,
        name = "store.sqlite.create_alias",
        fields(account = %alias.account, alias = %alias.name, key_id = %alias.target_key_id)
    )]
    async fn create_alias(&self, alias: &AliasRecord, max_per_key: u32) -> Result<(), StoreError> {
        self.write(&InsertAlias { alias, max_per_key }).await
    }

    #[tracing::instrument(skip_all, name = "store.sqlite.alias", fields(%account, alias = %name))]
    async fn alias(
        &self,
        account: &AccountId,
        name: &AliasName,
    ) -> Result<Option<AliasRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT name, target_key_id, created_at, updated_at FROM aliases \
             WHERE account = ? AND name = ?",
        )
        .bind(account.as_str())
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await?;

        row.map(|row| decode_alias(account, &row)).transpose()
    }

    #[tracing::instrument(
        skip_all,
        name = "store.sqlite.update_alias",
        fields(%account, alias = %name, key_id = %target)
    )]
    async fn update_alias(
        &self,
        account: &AccountId,
        name: &AliasName,
        target: KeyId,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE aliases SET target_key_id = ?, updated_at = ? WHERE account = ? AND name = ?",
        )
        .bind(target.to_string())
        .bind(now)
        .bind(account.as_str())
        .bind(name.as_str())
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    #[tracing::instrument(skip_all, name = "store.sqlite.delete_alias", fields(%account, alias = %name))]
    async fn delete_alias(
        &self,
        account: &AccountId,
        name: &AliasName,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM aliases WHERE account = ? AND name = ?")
            .bind(account.as_str())
            .bind(name.as_str())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    #[tracing::instrument(skip_all, name = "store.sqlite.list_aliases", fields(%account))]
    async fn list_aliases(
        &self,
        account: &AccountId,
        target: Option<KeyId>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, target_key_id, created_at, updated_at FROM aliases \
             WHERE account = ?1 AND (?2 IS NULL OR target_key_id = ?2) \
             AND (?3 IS NULL OR name > ?3) ORDER BY name LIMIT ?4",
        )
        .bind(account.as_str())
        .bind(target.map(|id| id.to_string()))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;

        rows.iter().map(|row| decode_alias(account, row)).collect()
    }
}

/// The statements of one write transaction. [`SqliteStore::write`] may run them more than once,
/// so they must have no effect outside the transaction.
trait WriteBody: Sync {
    type Output: Send;

    const OP: WriteOp;

    fn run(
        &self,
        conn: &mut SqliteConnection,
    ) -> impl Future<Output = Result<Self::Output, Abort>> + Send;
}

/// CreateKey: the key's row and its first backing version.
struct InsertKey<'a> {
    key: &'a KeyRecord,
    first_version: &'a KeyVersion,
}

impl WriteBody for InsertKey<'_> {
    type Output = ();

    const OP: WriteOp = WriteOp::CreateKey;

    async fn run(&self, conn: &mut SqliteConnection) -> Result<(), Abort> {
        let Self { key, first_version } = *self;
        sqlx::query(
            "INSERT INTO keys (account, key_id, description, key_spec, key_usage, origin, \
             state, created_at, deletion_date, current_version) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(key.account.as_str())
        .bind(key.key_id.to_string())
        .bind(key.description.as_str())
        .bind(key.key_spec.as_str())
        .bind(key.key_usage.as_str())
        .bind(key.origin.as_str())
        .bind(key.state.as_str())
        .bind(key.created_at)
        .bind(key.deletion_date)
        .bind(i64::from(key.current_version))
        .execute(&mut *conn)
        .await?;

        sqlx::query(
            "INSERT INTO key_versions \
             (account, key_id, version, root_key_id, wrapped_material, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(key.account.as_str())
        .bind(first_version.key_id.to_string())
        .bind(i64::from(first_version.version))
        .bind(first_version.root_key_id.as_str())
        .bind(first_version.wrapped_material.as_slice())
        .bind(first_version.created_at)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// CreateAlias: the alias, if its target is below the per-key quota.
struct InsertAlias<'a> {
    alias: &'a AliasRecord,
    max_per_key: u32,
}

impl WriteBody for InsertAlias<'_> {
    type Output = ();

    const OP: WriteOp = WriteOp::CreateAlias;

    async fn run(&self, conn: &mut SqliteConnection) -> Result<(), Abort> {
        let Self { alias, max_per_key } = *self;
        // Inserting before counting lets a taken name answer `AlreadyExists` even when the
        // target is also full; the count then includes the new alias.
        sqlx::query(
            "INSERT INTO aliases (account, name, target_key_id, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(alias.account.as_str())
        .bind(alias.name.as_str())
        .bind(alias.target_key_id.to_string())
        .bind(alias.created_at)
        .bind(alias.updated_at)
        .execute(&mut *conn)
        .await?;

        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM aliases WHERE account = ? AND target_key_id = ?",
        )
        .bind(alias.account.as_str())
        .bind(alias.target_key_id.to_string())
        .fetch_one(&mut *conn)
        .await?;
        if count > i64::from(max_per_key) {
            return Err(Abort::Refused(StoreError::LimitExceeded));
        }
        Ok(())
    }
}

/// The write transactions, named in their logs.
#[derive(Clone, Copy, Debug)]
enum WriteOp {
    CreateAlias,
    CreateKey,
}

impl WriteOp {
    fn as_str(self) -> &'static str {
        match self {
            Self::CreateAlias => "create_alias",
            Self::CreateKey => "create_key",
        }
    }
}

/// Why a transaction body stopped before its commit.
#[derive(Debug)]
enum Abort {
    /// A statement failed; [`classify`] decides whether the body runs again.
    Database(sqlx::Error),

    /// The body refused the change itself; that answer is final.
    Refused(StoreError),
}

impl From<sqlx::Error> for Abort {
    fn from(err: sqlx::Error) -> Self {
        Self::Database(err)
    }
}

fn decode_alias(account: &AccountId, row: &SqliteRow) -> Result<AliasRecord, StoreError> {
    Ok(AliasRecord {
        account: account.clone(),
        name: decode_text(row, "name", |name| AliasName::parse(name).ok())?,
        target_key_id: decode_text(row, "target_key_id", KeyId::parse)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Reads a text column through a domain parser; text the parser rejects is a corrupt row.
fn decode_text<T>(
    row: &SqliteRow,
    column: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let text: &str = row.try_get(column)?;
    parse(text).ok_or_else(|| StoreError::Corrupt(format!("`{column}` holds `{text}`")))
}

fn decode_version(row: &SqliteRow, column: &str) -> Result<u32, StoreError> {
    let value: i64 = row.try_get(column)?;
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("`{column}` holds `{value}`")))
}

#[cfg(test)]
mod tests;
