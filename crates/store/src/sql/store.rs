//! The [`Store`] implementation the SQLite and Postgres stores share.

use async_trait::async_trait;
use keyshard_core::id::{AccountId, AliasName, KeyId};
use keyshard_core::spec::KeyState;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};
use tokio::sync::broadcast;

use super::{Driver, SqlCore, Write};
use crate::{
    AccountKeyVersion, AliasRecord, KeyRecord, KeyVersion, Millis, Store, StoreChange, StoreError,
};

/// A store that is one SQL database behind a [`SqlCore`]: the backend adds only how it is
/// opened, and what it needs while open.
pub(crate) trait SqlBacked: Send + Sync + 'static {
    type DB: Driver;

    /// The database in spans, as OpenTelemetry's `db.system.name` attribute names it.
    const SYSTEM: &'static str;

    fn core(&self) -> &SqlCore<Self::DB>;
}

/// The row type of a backend's database.
type Row<T> = <<T as SqlBacked>::DB as Database>::Row;

/// Every SQL backend's [`Store`]: spans named per operation with the database as a field, and
/// the shared statements. The bounds are those of `SqlCore`'s impl blocks.
#[async_trait]
impl<T> Store for T
where
    T: SqlBacked,
    <T::DB as Database>::Arguments: IntoArguments<T::DB>,
    for<'c> &'c mut <T::DB as Database>::Connection: Executor<'c, Database = T::DB>,
    for<'a> &'a str: Encode<'a, T::DB> + Decode<'a, T::DB> + Type<T::DB> + ColumnIndex<Row<T>>,
    for<'a> &'a [u8]: Encode<'a, T::DB> + Type<T::DB>,
    for<'a> String: Encode<'a, T::DB> + Type<T::DB>,
    for<'a> Option<&'a str>: Encode<'a, T::DB>,
    for<'a> Option<String>: Encode<'a, T::DB>,
    for<'a> Option<i64>: Encode<'a, T::DB>,
    for<'a> i64: Encode<'a, T::DB> + Decode<'a, T::DB> + Type<T::DB>,
    for<'a> Vec<u8>: Decode<'a, T::DB> + Type<T::DB>,
{
    #[tracing::instrument(
        skip_all,
        name = "store.create_key",
        fields(db.system.name = T::SYSTEM, account = %key.account, key_id = %key.key_id)
    )]
    async fn create_key(
        &self,
        key: &KeyRecord,
        first_version: &KeyVersion,
    ) -> Result<(), StoreError> {
        self.core()
            .write(&Write::CreateKey { key, first_version })
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, name = "store.key", fields(db.system.name = T::SYSTEM, %account, %key_id))]
    async fn key(
        &self,
        account: &AccountId,
        key_id: KeyId,
    ) -> Result<Option<KeyRecord>, StoreError> {
        self.core().key(account, key_id).await
    }

    #[tracing::instrument(
        skip_all,
        name = "store.key_version",
        fields(db.system.name = T::SYSTEM, %account, %key_id, version = version)
    )]
    async fn key_version(
        &self,
        account: &AccountId,
        key_id: KeyId,
        version: u32,
    ) -> Result<Option<KeyVersion>, StoreError> {
        self.core().key_version(account, key_id, version).await
    }

    #[tracing::instrument(skip_all, name = "store.list_keys", fields(db.system.name = T::SYSTEM, %account))]
    async fn list_keys(
        &self,
        account: &AccountId,
        after: Option<KeyId>,
        limit: u32,
    ) -> Result<Vec<KeyId>, StoreError> {
        self.core().list_keys(account, after, limit).await
    }

    #[tracing::instrument(
        skip_all,
        name = "store.create_alias",
        fields(db.system.name = T::SYSTEM, account = %alias.account, alias = %alias.name, key_id = %alias.target_key_id)
    )]
    async fn create_alias(&self, alias: &AliasRecord, max_per_key: u32) -> Result<(), StoreError> {
        self.core()
            .write(&Write::CreateAlias { alias, max_per_key })
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, name = "store.alias", fields(db.system.name = T::SYSTEM, %account, alias = %name))]
    async fn alias(
        &self,
        account: &AccountId,
        name: &AliasName,
    ) -> Result<Option<AliasRecord>, StoreError> {
        self.core().alias(account, name).await
    }

    #[tracing::instrument(
        skip_all,
        name = "store.update_alias",
        fields(db.system.name = T::SYSTEM, %account, alias = %name, key_id = %target)
    )]
    async fn update_alias(
        &self,
        account: &AccountId,
        name: &AliasName,
        target: KeyId,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let write = Write::UpdateAlias {
            account,
            name,
            target,
            now,
        };
        self.core().write(&write).await
    }

    #[tracing::instrument(skip_all, name = "store.delete_alias", fields(db.system.name = T::SYSTEM, %account, alias = %name))]
    async fn delete_alias(
        &self,
        account: &AccountId,
        name: &AliasName,
    ) -> Result<bool, StoreError> {
        self.core()
            .write(&Write::DeleteAlias { account, name })
            .await
    }

    #[tracing::instrument(skip_all, name = "store.set_key_state", fields(db.system.name = T::SYSTEM, %account, %key_id))]
    async fn set_key_state(
        &self,
        account: &AccountId,
        key_id: KeyId,
        state: KeyState,
        deletion_date: Option<Millis>,
    ) -> Result<bool, StoreError> {
        let write = Write::SetKeyState {
            account,
            key_id,
            expected: None,
            state,
            deletion_date,
        };
        self.core().write(&write).await
    }

    #[tracing::instrument(skip_all, name = "store.versions_not_wrapped_under", fields(db.system.name = T::SYSTEM))]
    async fn versions_not_wrapped_under(
        &self,
        root_key_id: &str,
        after: Option<(&AccountId, KeyId, u32)>,
        limit: u32,
    ) -> Result<Vec<AccountKeyVersion>, StoreError> {
        self.core()
            .versions_not_wrapped_under(root_key_id, after, limit)
            .await
    }

    #[tracing::instrument(
        skip_all,
        name = "store.rewrap_version",
        fields(db.system.name = T::SYSTEM, %account, %key_id, version = version)
    )]
    async fn rewrap_version(
        &self,
        account: &AccountId,
        key_id: KeyId,
        version: u32,
        old_root_key_id: &str,
        new: &KeyVersion,
    ) -> Result<bool, StoreError> {
        let write = Write::RewrapVersion {
            account,
            key_id,
            version,
            old_root_key_id,
            new,
        };
        self.core().write(&write).await
    }

    fn changes(&self) -> broadcast::Receiver<StoreChange> {
        self.core().feed.subscribe()
    }

    fn query_count(&self) -> u64 {
        self.core().feed.statements()
    }

    #[tracing::instrument(skip_all, name = "store.list_aliases", fields(db.system.name = T::SYSTEM, %account))]
    async fn list_aliases(
        &self,
        account: &AccountId,
        target: Option<KeyId>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        self.core()
            .list_aliases(account, target, after, limit)
            .await
    }

    #[tracing::instrument(skip_all, name = "store.set_key_state_if", fields(db.system.name = T::SYSTEM, %account, %key_id))]
    async fn set_key_state_if(
        &self,
        account: &AccountId,
        key_id: KeyId,
        expected: KeyState,
        state: KeyState,
        deletion_date: Option<Millis>,
    ) -> Result<bool, StoreError> {
        let write = Write::SetKeyState {
            account,
            key_id,
            expected: Some(expected),
            state,
            deletion_date,
        };
        self.core().write(&write).await
    }

    #[tracing::instrument(skip_all, name = "store.update_key_description", fields(db.system.name = T::SYSTEM, %account, %key_id))]
    async fn update_key_description(
        &self,
        account: &AccountId,
        key_id: KeyId,
        expected: KeyState,
        description: &str,
    ) -> Result<bool, StoreError> {
        let write = Write::UpdateKeyDescription {
            account,
            key_id,
            expected,
            description,
        };
        self.core().write(&write).await
    }

    #[tracing::instrument(skip_all, name = "store.delete_due_keys", fields(db.system.name = T::SYSTEM))]
    async fn delete_due_keys(
        &self,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<(AccountId, KeyId)>, StoreError> {
        let applied = self
            .core()
            .commit(&Write::DeleteDueKeys { now, limit })
            .await?;
        let deleted = applied
            .changes
            .into_iter()
            .filter_map(|change| match change {
                StoreChange::Key { account, key_id } => Some((account, key_id)),
                StoreChange::Alias { .. } | StoreChange::All => None,
            })
            .collect();
        Ok(deleted)
    }
}
