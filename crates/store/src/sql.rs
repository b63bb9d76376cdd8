//! What the SQLite and Postgres stores share: a pool, the reading statements and row decoding.
//! Statements are written once with `$n` placeholders, which SQLite reads as well; the few
//! differences between the databases are the [`Driver`] constants.

mod accounts;
mod grants;
mod lifecycle;
mod policies;
mod rotation;
mod store;
mod tags;
mod write;

use std::fmt;
use std::sync::Arc;

use keyshard_core::id::{AccountId, AliasName, KeyId};
use keyshard_core::spec::{KeySpec, KeyState, KeyUsage, Origin};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use crate::feed::Feed;
use crate::{AccountKeyVersion, AliasRecord, KeyRecord, KeyVersion, StoreError};

pub(crate) use store::SqlBacked;
use write::Write;

/// What one database does differently from the other inside a write transaction.
pub(crate) trait Driver: Database {
    /// The statement that opens a write transaction.
    const BEGIN: &'static str;

    /// Locks a key row until the transaction ends (`$1` account, `$2` key id), so that writes
    /// counting rows that refer to the key take turns. `None` where `BEGIN` already keeps every
    /// other writer out.
    const LOCK_KEY: Option<&'static str>;

    /// Announces a change from inside the transaction (`$1` the notice), so that other
    /// processes hear of it if and only if it commits. `None` where no other process can hold a
    /// copy: the store then publishes the change itself once the transaction has committed.
    const NOTIFY: Option<&'static str>;

    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// The version of the newest migration this build carries: a database whose applied
    /// migrations stop short of it is not ready for this build.
    fn latest_migration() -> i64;
}

/// The newest migration version among `migrator`'s.
pub(crate) fn latest(migrator: &sqlx::migrate::Migrator) -> i64 {
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// A pool of one database and the feed every statement sent on it is counted in.
pub(crate) struct SqlCore<DB: Database> {
    pub(crate) pool: Pool<DB>,
    pub(crate) feed: Arc<Feed>,
}

impl<DB: Database> SqlCore<DB> {
    pub(crate) fn new(pool: Pool<DB>) -> Self {
        Self {
            pool,
            feed: Arc::new(Feed::new()),
        }
    }
}

// What the statements ask of a driver: text, blobs and 64-bit integers in and out. Stable Rust
// cannot name such a list once (bounds on other types are not implied by a trait), so the impl
// blocks in `store.rs` and `write.rs` repeat it.
impl<DB> SqlCore<DB>
where
    DB: Driver,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Encode<'a, DB> + Decode<'a, DB> + Type<DB> + ColumnIndex<DB::Row>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
    for<'a> Option<&'a str>: Encode<'a, DB>,
    for<'a> Option<String>: Encode<'a, DB>,
    for<'a> Option<i64>: Encode<'a, DB>,
    for<'a> i64: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> Vec<u8>: Decode<'a, DB> + Type<DB>,
{
    pub(crate) async fn key(
        &self,
        account: &AccountId,
        key_id: KeyId,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let row = self.feed.statement(sqlx::query(
            "SELECT description, key_spec, key_usage, origin, state, created_at, deletion_date, \
             current_version FROM keys WHERE account = $1 AND key_id = $2",
        )
        .bind(account.as_str())
        .bind(key_id.to_string())
        .fetch_optional(&self.pool)
        ).await?;

        let Some(row) = row else { return Ok(None) };
        Ok(Some(KeyRecord {
            account: account.clone(),
            key_id,
            description: row.try_get::<&str, _>("description")?.to_owned(),
            key_spec: Self::decode_text(&row, "key_spec", KeySpec::parse)?,
            key_usage: Self::decode_text(&row, "key_usage", KeyUsage::parse)?,
            origin: Self::decode_text(&row, "origin", Origin::parse)?,
            state: Self::decode_text(&row, "state", KeyState::parse)?,
            created_at: row.try_get("created_at")?,
            deletion_date: row.try_get("deletion_date")?,
            current_version: Self::decode_version(&row, "current_version")?,
        }))
    }

    pub(crate) async fn key_version(
        &self,
        account: &AccountId,
        key_id: KeyId,
        version: u32,
    ) -> Result<Option<KeyVersion>, StoreError> {
        let row = self
            .feed
            .statement(
                sqlx::query(
                    "SELECT key_id, version, root_key_id, wrapped_material, created_at \
             FROM key_versions WHERE account = $1 AND key_id = $2 AND version = $3",
                )
                .bind(account.as_str())
                .bind(key_id.to_string())
                .bind(i64::from(version))
                .fetch_optional(&self.pool),
            )
            .await?;

        row.map(|row| Self::decode_key_version(&row)).transpose()
    }

    pub(crate) async fn list_keys(
        &self,
        account: &AccountId,
        after: Option<KeyId>,
        limit: u32,
    ) -> Result<Vec<KeyId>, StoreError> {
        let rows = self
            .feed
            .statement(
                sqlx::query(
                    "SELECT key_id FROM keys WHERE account = $1 AND ($2 IS NULL OR key_id > $2) \
             ORDER BY key_id LIMIT $3",
                )
                .bind(account.as_str())
                .bind(after.map(|id| id.to_string()))
                .bind(i64::from(limit))
                .fetch_all(&self.pool),
            )
            .await?;

        rows.iter()
            .map(|row| Self::decode_text(row, "key_id", KeyId::parse))
            .collect()
    }

    pub(crate) async fn alias(
        &self,
        account: &AccountId,
        name: &AliasName,
    ) -> Result<Option<AliasRecord>, StoreError> {
        let row = self
            .feed
            .statement(
                sqlx::query(
                    "SELECT name, target_key_id, created_at, updated_at FROM aliases \
             WHERE account = $1 AND name = $2",
                )
                .bind(account.as_str())
                .bind(name.as_str())
                .fetch_optional(&self.pool),
            )
            .await?;

        row.map(|row| Self::decode_alias(account, &row)).transpose()
    }

    pub(crate) async fn list_aliases(
        &self,
        account: &AccountId,
        target: Option<KeyId>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        let rows = self
            .feed
            .statement(
                sqlx::query(
                    "SELECT name, target_key_id, created_at, updated_at FROM aliases \
             WHERE account = $1 AND ($2 IS NULL OR target_key_id = $2) \
             AND ($3 IS NULL OR name > $3) ORDER BY name LIMIT $4",
                )
                .bind(account.as_str())
                .bind(target.map(|id| id.to_string()))
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool),
            )
            .await?;

        rows.iter()
            .map(|row| Self::decode_alias(account, row))
            .collect()
    }

    /// The one statement not scoped by account: the root-key re-wrapping walk crosses them all.
    pub(crate) async fn versions_not_wrapped_under(
        &self,
        root_key_id: &str,
        after: Option<(&AccountId, KeyId, u32)>,
        limit: u32,
    ) -> Result<Vec<AccountKeyVersion>, StoreError> {
        let (after_account, after_key_id, after_version) = match after {
            Some((account, key_id, version)) => (
                Some(account.as_str()),
                Some(key_id.to_string()),
                Some(i64::from(version)),
            ),
            None => (None, None, None),
        };

        let rows = self
            .feed
            .statement(
                sqlx::query(
                    "SELECT account, key_id, version, root_key_id, wrapped_material, created_at \
             FROM key_versions WHERE root_key_id <> $1 \
             AND ($2 IS NULL OR (account, key_id, version) > ($2, $3, $4)) \
             ORDER BY account, key_id, version LIMIT $5",
                )
                .bind(root_key_id)
                .bind(after_account)
                .bind(after_key_id)
                .bind(after_version)
                .bind(i64::from(limit))
                .fetch_all(&self.pool),
            )
            .await?;

        let mut versions = Vec::with_capacity(rows.len());
        for row in &rows {
            versions.push(AccountKeyVersion {
                account: Self::decode_text(row, "account", |text| text.parse().ok())?,
                version: Self::decode_key_version(row)?,
            });
        }
        Ok(versions)
    }

    fn decode_key_version(row: &DB::Row) -> Result<KeyVersion, StoreError> {
        Ok(KeyVersion {
            key_id: Self::decode_text(row, "key_id", KeyId::parse)?,
            version: Self::decode_version(row, "version")?,
            root_key_id: row.try_get::<&str, _>("root_key_id")?.to_owned(),
            wrapped_material: row.try_get("wrapped_material")?,
            created_at: row.try_get("created_at")?,
        })
    }

    fn decode_alias(account: &AccountId, row: &DB::Row) -> Result<AliasRecord, StoreError> {
        Ok(AliasRecord {
            account: account.clone(),
            name: Self::decode_text(row, "name", |name| AliasName::parse(name).ok())?,
            target_key_id: Self::decode_text(row, "target_key_id", KeyId::parse)?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }

    /// Reads a text column through a domain parser; text the parser rejects is a corrupt row.
    fn decode_text<T>(
        row: &DB::Row,
        column: &str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<T, StoreError> {
        let text: &str = row.try_get(column)?;
        parse(text).ok_or_else(|| StoreError::Corrupt(format!("`{column}` holds `{text}`")))
    }

    fn decode_version(row: &DB::Row, column: &str) -> Result<u32, StoreError> {
        let value: i64 = row.try_get(column)?;
        u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("`{column}` holds `{value}`")))
    }
}

impl<DB: Database> fmt::Debug for SqlCore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlCore")
            .field("pool", &self.pool)
            .field("feed", &self.feed)
            .finish()
    }
}

impl<DB: Database> Clone for SqlCore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            feed: Arc::clone(&self.feed),
        }
    }
}
