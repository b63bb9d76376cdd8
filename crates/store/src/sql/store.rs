//! The [`Store`] implementation the SQLite and Postgres stores share.

use async_trait::async_trait;
use keyshard_core::grants::{GrantId, Principal};
use keyshard_core::histogram::Histogram;
use keyshard_core::id::{AccountId, AliasName, KeyId};
use keyshard_core::rotation::RotationSchedule;
use keyshard_core::spec::KeyState;
use keyshard_core::tags::Tag;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row as _, Type};
use tokio::sync::broadcast;

use super::accounts::AccountWrite;
use super::grants::GrantWrite;
use super::rotation::RotationWrite;
use super::{Driver, SqlCore, Write};
use crate::{
    AccessKeyRecord, AccountKeyVersion, AccountRecord, AliasRecord, DueRotation, GrantCreation,
    GrantFilter, GrantRecord, KeyRecord, KeyRotation, KeyVersion, Millis, RotationTrigger, Store,
    StoreChange, StoreError,
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
        let write = Write::CreateKey {
            key,
            first_version,
            policy: None,
            tags: &[],
        };
        self.core().write(&write).await?;
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

    fn query_durations(&self) -> Histogram {
        self.core().feed.durations()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT MAX(version) AS applied FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.core().pool)
            .await?;
        let applied: Option<i64> = row.try_get("applied")?;
        let needed = <T::DB as Driver>::latest_migration();
        match applied {
            Some(applied) if applied >= needed => Ok(()),
            applied => Err(StoreError::SchemaBehind {
                applied: applied.unwrap_or(0),
                needed,
            }),
        }
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

    // Tags and key policies.

    #[tracing::instrument(
        skip_all,
        name = "store.create_key_with_policy_and_tags",
        fields(db.system.name = T::SYSTEM, account = %key.account, key_id = %key.key_id)
    )]
    async fn create_key_with_policy_and_tags(
        &self,
        key: &KeyRecord,
        first_version: &KeyVersion,
        policy: &str,
        tags: &[Tag],
    ) -> Result<(), StoreError> {
        let write = Write::CreateKey {
            key,
            first_version,
            policy: Some(policy),
            tags,
        };
        self.core().write(&write).await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, name = "store.tags", fields(db.system.name = T::SYSTEM, %account, %key_id))]
    async fn tags(
        &self,
        account: &AccountId,
        key_id: KeyId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Tag>, StoreError> {
        self.core().tags(account, key_id, after, limit).await
    }

    #[tracing::instrument(skip_all, name = "store.tag_key", fields(db.system.name = T::SYSTEM, %account, %key_id))]
    async fn tag_key(
        &self,
        account: &AccountId,
        key_id: KeyId,
        state: KeyState,
        tags: &[Tag],
        max_per_key: u32,
    ) -> Result<bool, StoreError> {
        let write = Write::TagKey {
            account,
            key_id,
            state,
            tags,
            max_per_key,
        };
        self.core().write(&write).await
    }

    #[tracing::instrument(skip_all, name = "store.untag_key", fields(db.system.name = T::SYSTEM, %account, %key_id))]
    async fn untag_key(
        &self,
        account: &AccountId,
        key_id: KeyId,
        state: KeyState,
        tag_keys: &[String],
    ) -> Result<bool, StoreError> {
        let write = Write::UntagKey {
            account,
            key_id,
            state,
            tag_keys,
        };
        self.core().write(&write).await
    }

    #[tracing::instrument(skip_all, name = "store.key_policy", fields(db.system.name = T::SYSTEM, %account, %key_id))]
    async fn key_policy(
        &self,
        account: &AccountId,
        key_id: KeyId,
        name: &str,
    ) -> Result<Option<String>, StoreError> {
        self.core().key_policy(account, key_id, name).await
    }

    #[tracing::instrument(skip_all, name = "store.put_key_policy", fields(db.system.name = T::SYSTEM, %account, %key_id))]
    async fn put_key_policy(
        &self,
        account: &AccountId,
        key_id: KeyId,
        name: &str,
        policy: &str,
    ) -> Result<(), StoreError> {
        let write = Write::PutKeyPolicy {
            account,
            key_id,
            name,
            policy,
        };
        self.core().write(&write).await?;
        Ok(())
    }

    // Rotation.

    #[tracing::instrument(skip_all, name = "store.rotation_schedule", fields(db.system.name = T::SYSTEM, %account, %key_id))]
    async fn rotation_schedule(
        &self,
        account: &AccountId,
        key_id: KeyId,
    ) -> Result<Option<RotationSchedule>, StoreError> {
        self.core().rotation_schedule(account, key_id).await
    }

    #[tracing::instrument(skip_all, name = "store.enable_key_rotation", fields(db.system.name = T::SYSTEM, %account, %key_id))]
    async fn enable_key_rotation(
        &self,
        account: &AccountId,
        key_id: KeyId,
        period_days: u32,
        now: Millis,
    ) -> Result<(), StoreError> {
        let write = RotationWrite::Enable {
            account,
            key_id,
            period_days,
            now,
        };
        self.core().write(&Write::Rotation(write)).await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, name = "store.disable_key_rotation", fields(db.system.name = T::SYSTEM, %account, %key_id))]
    async fn disable_key_rotation(
        &self,
        account: &AccountId,
        key_id: KeyId,
    ) -> Result<bool, StoreError> {
        let write = RotationWrite::Disable { account, key_id };
        self.core().write(&Write::Rotation(write)).await
    }

    #[tracing::instrument(
        skip_all,
        name = "store.rotate_key",
        fields(db.system.name = T::SYSTEM, %account, key_id = %version.key_id, version = version.version)
    )]
    async fn rotate_key(
        &self,
        account: &AccountId,
        version: &KeyVersion,
        expected_state: KeyState,
        trigger: RotationTrigger,
    ) -> Result<bool, StoreError> {
        let write = RotationWrite::Rotate {
            account,
            version,
            expected_state,
            trigger,
        };
        self.core().write(&Write::Rotation(write)).await
    }

    #[tracing::instrument(skip_all, name = "store.list_key_rotations", fields(db.system.name = T::SYSTEM, %account, %key_id))]
    async fn list_key_rotations(
        &self,
        account: &AccountId,
        key_id: KeyId,
        after: Option<u32>,
        include_first: bool,
        limit: u32,
    ) -> Result<Vec<KeyRotation>, StoreError> {
        self.core()
            .list_key_rotations(account, key_id, after, include_first, limit)
            .await
    }

    #[tracing::instrument(skip_all, name = "store.due_key_rotations", fields(db.system.name = T::SYSTEM))]
    async fn due_key_rotations(
        &self,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<DueRotation>, StoreError> {
        self.core().due_key_rotations(now, limit).await
    }

    // Key lifecycle.

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

    // Grants.

    #[tracing::instrument(
        skip_all,
        name = "store.create_grant",
        fields(db.system.name = T::SYSTEM, account = %grant.account, key_id = %grant.key_id, grant_id = %grant.grant_id)
    )]
    async fn create_grant(
        &self,
        grant: &GrantRecord,
        state: KeyState,
        max_per_key: u32,
    ) -> Result<GrantCreation, StoreError> {
        self.core().create_grant(grant, state, max_per_key).await
    }

    #[tracing::instrument(skip_all, name = "store.grant", fields(db.system.name = T::SYSTEM, %account, %grant_id))]
    async fn grant(
        &self,
        account: &AccountId,
        grant_id: GrantId,
    ) -> Result<Option<GrantRecord>, StoreError> {
        self.core().grant(account, grant_id).await
    }

    #[tracing::instrument(skip_all, name = "store.list_grants", fields(db.system.name = T::SYSTEM, %account, %key_id))]
    async fn list_grants(
        &self,
        account: &AccountId,
        key_id: KeyId,
        filter: &GrantFilter<'_>,
        after: Option<GrantId>,
        limit: u32,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        self.core()
            .list_grants(account, key_id, filter, after, limit)
            .await
    }

    #[tracing::instrument(skip_all, name = "store.list_retirable_grants", fields(db.system.name = T::SYSTEM, %account))]
    async fn list_retirable_grants(
        &self,
        account: &AccountId,
        retiring: &Principal,
        after: Option<GrantId>,
        limit: u32,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        self.core()
            .list_retirable_grants(account, retiring, after, limit)
            .await
    }

    #[tracing::instrument(skip_all, name = "store.delete_grant", fields(db.system.name = T::SYSTEM, %account, %key_id, %grant_id))]
    async fn delete_grant(
        &self,
        account: &AccountId,
        key_id: KeyId,
        grant_id: GrantId,
    ) -> Result<bool, StoreError> {
        let write = GrantWrite::Delete {
            account,
            key_id,
            grant_id,
        };
        self.core().write(&Write::Grant(write)).await
    }

    #[tracing::instrument(skip_all, name = "store.key_owner", fields(db.system.name = T::SYSTEM, %key_id))]
    async fn key_owner(&self, key_id: KeyId) -> Result<Option<AccountId>, StoreError> {
        self.core().key_owner(key_id).await
    }

    #[tracing::instrument(skip_all, name = "store.create_account", fields(db.system.name = T::SYSTEM, %account))]
    async fn create_account(&self, account: &AccountId, now: Millis) -> Result<bool, StoreError> {
        let write = AccountWrite::Create { account, now };
        self.core().write(&Write::Account(write)).await
    }

    #[tracing::instrument(skip_all, name = "store.account", fields(db.system.name = T::SYSTEM, %account))]
    async fn account(&self, account: &AccountId) -> Result<Option<AccountRecord>, StoreError> {
        self.core().account(account).await
    }

    #[tracing::instrument(skip_all, name = "store.account_ids", fields(db.system.name = T::SYSTEM))]
    async fn account_ids(&self) -> Result<Vec<AccountId>, StoreError> {
        self.core().account_ids().await
    }

    #[tracing::instrument(skip_all, name = "store.set_account_quota", fields(db.system.name = T::SYSTEM, %account, class))]
    async fn set_account_quota(
        &self,
        account: &AccountId,
        class: &str,
        requests_per_second: Option<u32>,
    ) -> Result<bool, StoreError> {
        if self.core().account(account).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let write = AccountWrite::SetQuota {
            account,
            class,
            requests_per_second,
        };
        self.core().write(&Write::Account(write)).await
    }

    #[tracing::instrument(skip_all, name = "store.create_access_key", fields(db.system.name = T::SYSTEM, account = %key.account, access_key_id = key.access_key_id))]
    async fn create_access_key(&self, key: &AccessKeyRecord) -> Result<(), StoreError> {
        self.core()
            .write(&Write::Account(AccountWrite::CreateAccessKey(key)))
            .await
            .map(drop)
    }

    #[tracing::instrument(skip_all, name = "store.access_key", fields(db.system.name = T::SYSTEM, access_key_id))]
    async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        self.core().access_key(access_key_id).await
    }

    #[tracing::instrument(skip_all, name = "store.access_keys", fields(db.system.name = T::SYSTEM, %account))]
    async fn access_keys(&self, account: &AccountId) -> Result<Vec<AccessKeyRecord>, StoreError> {
        self.core().access_keys(account).await
    }

    #[tracing::instrument(skip_all, name = "store.delete_access_key", fields(db.system.name = T::SYSTEM, %account, access_key_id))]
    async fn delete_access_key(
        &self,
        account: &AccountId,
        access_key_id: &str,
    ) -> Result<bool, StoreError> {
        let write = AccountWrite::DeleteAccessKey {
            account,
            access_key_id,
        };
        self.core().write(&Write::Account(write)).await
    }

    #[tracing::instrument(skip_all, name = "store.access_keys_not_wrapped_under", fields(db.system.name = T::SYSTEM))]
    async fn access_keys_not_wrapped_under(
        &self,
        root_key_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccessKeyRecord>, StoreError> {
        self.core()
            .access_keys_not_wrapped_under(root_key_id, after, limit)
            .await
    }

    #[tracing::instrument(skip_all, name = "store.rewrap_access_key", fields(db.system.name = T::SYSTEM, access_key_id))]
    async fn rewrap_access_key(
        &self,
        access_key_id: &str,
        old_root_key_id: &str,
        new_root_key_id: &str,
        wrapped_secret: &[u8],
    ) -> Result<bool, StoreError> {
        let write = AccountWrite::RewrapAccessKey {
            access_key_id,
            old_root_key_id,
            new_root_key_id,
            wrapped_secret,
        };
        self.core().write(&Write::Account(write)).await
    }
}
