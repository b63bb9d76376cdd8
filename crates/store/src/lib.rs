//! Keyshard's key store: the [`Store`] trait the shard talks to, the records it holds, the
//! Postgres implementation shards share, and the embedded SQLite one used by `keyshard dev`.
//!
//! Key material is stored only wrapped under a root key; the store never sees it in the clear.
//! Every method takes the caller's account and scopes its queries by it, except the walks that
//! re-wrap versions under a new root key, find keys due for automatic rotation and delete keys
//! whose waiting period is over.

mod accounts;
mod error;
mod feed;
mod grants;
mod postgres;
mod rotation;
mod sql;
mod sqlite;

use async_trait::async_trait;
use keyshard_core::grants::{GrantId, Principal};
use keyshard_core::id::{AccountId, AliasName, KeyId};
use keyshard_core::rotation::RotationSchedule;
use keyshard_core::spec::{KeySpec, KeyState, KeyUsage, Origin};
use keyshard_core::tags::Tag;

pub use accounts::{AccessKeyRecord, AccountQuota, AccountRecord};
pub use error::StoreError;
pub use grants::{GrantCreation, GrantFilter, GrantRecord};
pub use postgres::PostgresStore;
pub use rotation::{DueRotation, KeyRotation, RotationTrigger};
pub use sqlite::SqliteStore;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// A KMS key's metadata, one row per key.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct KeyRecord {
    pub account: AccountId,
    pub key_id: KeyId,
    pub description: String,
    pub key_spec: KeySpec,
    pub key_usage: KeyUsage,
    pub origin: Origin,
    pub state: KeyState,
    pub created_at: Millis,
    /// Set only while the key is pending deletion.
    pub deletion_date: Option<Millis>,
    /// The backing key version new ciphertexts are sealed under.
    pub current_version: u32,
}

/// One backing key version, wrapped under a root key (DESIGN.md, "Key hierarchy").
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct KeyVersion {
    pub key_id: KeyId,
    pub version: u32,
    /// Which root key wrapped `wrapped_material`.
    pub root_key_id: String,
    /// Nonce, ciphertext and tag of the backing key; never the key itself.
    pub wrapped_material: Vec<u8>,
    pub created_at: Millis,
}

/// A stored backing version together with the account that owns it, as the root-key
/// re-wrapping walk sees it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct AccountKeyVersion {
    pub account: AccountId,
    pub version: KeyVersion,
}

/// A committed change that makes cached copies stale. Stores announce each one after (or, on
/// Postgres, atomically with) its commit; shards drop what they cached for it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum StoreChange {
    /// A key's metadata, state or versions changed, or the key was deleted.
    Key { account: AccountId, key_id: KeyId },
    /// An alias was created, moved or deleted.
    Alias { account: AccountId, name: AliasName },
    /// Announcements may have been missed (the listener reconnected): drop everything.
    All,
}

/// An alias and the key it points to.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct AliasRecord {
    pub account: AccountId,
    pub name: AliasName,
    pub target_key_id: KeyId,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The key store. Implementations must make each method atomic: a multi-row change either
/// happens whole or not at all.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts a key together with its first backing version, in one transaction.
    async fn create_key(
        &self,
        key: &KeyRecord,
        first_version: &KeyVersion,
    ) -> Result<(), StoreError>;

    async fn key(
        &self,
        account: &AccountId,
        key_id: KeyId,
    ) -> Result<Option<KeyRecord>, StoreError>;

    async fn key_version(
        &self,
        account: &AccountId,
        key_id: KeyId,
        version: u32,
    ) -> Result<Option<KeyVersion>, StoreError>;

    /// Key ids of the account in ascending order of their text form, starting after `after`,
    /// at most `limit` of them.
    async fn list_keys(
        &self,
        account: &AccountId,
        after: Option<KeyId>,
        limit: u32,
    ) -> Result<Vec<KeyId>, StoreError>;

    /// Inserts an alias. A taken name is [`StoreError::AlreadyExists`]; a target that already
    /// has `max_per_key` aliases is [`StoreError::LimitExceeded`].
    async fn create_alias(&self, alias: &AliasRecord, max_per_key: u32) -> Result<(), StoreError>;

    async fn alias(
        &self,
        account: &AccountId,
        name: &AliasName,
    ) -> Result<Option<AliasRecord>, StoreError>;

    /// Points an existing alias at another key. Returns false if the alias does not exist.
    async fn update_alias(
        &self,
        account: &AccountId,
        name: &AliasName,
        target: KeyId,
        now: Millis,
    ) -> Result<bool, StoreError>;

    /// Removes an alias. Returns false if it did not exist.
    async fn delete_alias(&self, account: &AccountId, name: &AliasName)
    -> Result<bool, StoreError>;

    /// Sets a key's state and deletion date, and announces the change. Returns false if the
    /// key does not exist.
    async fn set_key_state(
        &self,
        account: &AccountId,
        key_id: KeyId,
        state: KeyState,
        deletion_date: Option<Millis>,
    ) -> Result<bool, StoreError>;

    /// Backing versions of every account not wrapped under `root_key_id`, in (account, key id,
    /// version) order, starting after `after`, at most `limit` of them. An administrative walk
    /// across accounts, used only to re-wrap under a new root key.
    async fn versions_not_wrapped_under(
        &self,
        root_key_id: &str,
        after: Option<(&AccountId, KeyId, u32)>,
        limit: u32,
    ) -> Result<Vec<AccountKeyVersion>, StoreError>;

    /// Replaces the wrapping of one version if it is still wrapped under `old_root_key_id`
    /// (compare-and-set, so concurrent re-wraps are safe). Returns whether it replaced it.
    async fn rewrap_version(
        &self,
        account: &AccountId,
        key_id: KeyId,
        version: u32,
        old_root_key_id: &str,
        new: &KeyVersion,
    ) -> Result<bool, StoreError>;

    /// A feed of the changes committed from now on, by this process or (Postgres) any other.
    fn changes(&self) -> tokio::sync::broadcast::Receiver<StoreChange>;

    /// SQL statements this store has sent since it was opened: a warm cache sends none.
    /// Transaction control (`BEGIN`, `COMMIT`, `ROLLBACK`) counts; migrations, readiness
    /// checks and the Postgres listener's connection do not.
    fn query_count(&self) -> u64;

    /// How long each statement counted by [`Store::query_count`] took, from being sent (waiting
    /// for a pooled connection included) to its answer.
    fn query_durations(&self) -> keyshard_core::histogram::Histogram;

    /// Whether the database answers now and its schema has every migration this build needs:
    /// what a readiness probe asks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Aliases of the account in ascending name order, optionally only those pointing at
    /// `target`, starting after the name `after`, at most `limit` of them.
    async fn list_aliases(
        &self,
        account: &AccountId,
        target: Option<KeyId>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AliasRecord>, StoreError>;

    // Tags and key policies.

    /// Inserts a key together with its first backing version, its key policy (named
    /// `default`) and its tags, in one transaction. A key inserted with [`Store::create_key`]
    /// has no stored policy and no tags.
    async fn create_key_with_policy_and_tags(
        &self,
        key: &KeyRecord,
        first_version: &KeyVersion,
        policy: &str,
        tags: &[Tag],
    ) -> Result<(), StoreError>;

    /// A key's tags in ascending order of their tag keys' text, starting after the tag key
    /// `after`, at most `limit` of them.
    async fn tags(
        &self,
        account: &AccountId,
        key_id: KeyId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Tag>, StoreError>;

    /// Adds tags to a key, replacing the value of each tag key it already has, provided the
    /// key is still in `state`, the state the caller checked the change against; announces the
    /// change. Returns false, changing nothing, if the key does not exist or is in another
    /// state. A key that would be left with more than `max_per_key` tags is
    /// [`StoreError::LimitExceeded`].
    async fn tag_key(
        &self,
        account: &AccountId,
        key_id: KeyId,
        state: KeyState,
        tags: &[Tag],
        max_per_key: u32,
    ) -> Result<bool, StoreError>;

    /// Removes a key's tags with these tag keys, ignoring those it lacks, provided the key is
    /// still in `state`; announces the change. Returns false, changing nothing, if the key does
    /// not exist or is in another state.
    async fn untag_key(
        &self,
        account: &AccountId,
        key_id: KeyId,
        state: KeyState,
        tag_keys: &[String],
    ) -> Result<bool, StoreError>;

    /// A key's stored policy called `name`, exactly as it was stored; `None` if there is none.
    async fn key_policy(
        &self,
        account: &AccountId,
        key_id: KeyId,
        name: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Stores a key's policy called `name`, replacing any, and announces the change. A key the
    /// account does not have is [`StoreError::NotFound`].
    async fn put_key_policy(
        &self,
        account: &AccountId,
        key_id: KeyId,
        name: &str,
        policy: &str,
    ) -> Result<(), StoreError>;

    // Rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
    // RotateKeyOnDemand, ListKeyRotations and the automatic schedule.

    /// The key's automatic rotation schedule; `None` while automatic rotation is off or the key
    /// does not exist.
    async fn rotation_schedule(
        &self,
        account: &AccountId,
        key_id: KeyId,
    ) -> Result<Option<RotationSchedule>, StoreError>;

    /// Turns automatic rotation on with a period of `period_days`. When it was off, the first
    /// rotation is due one period after `now`; when it was on, only the period changes and the
    /// next rotation stays one (new) period after the rotation or enabling that began the
    /// current one. A key the account lacks is [`StoreError::NotFound`].
    async fn enable_key_rotation(
        &self,
        account: &AccountId,
        key_id: KeyId,
        period_days: u32,
        now: Millis,
    ) -> Result<(), StoreError>;

    /// Turns automatic rotation off. Returns whether it was on.
    async fn disable_key_rotation(
        &self,
        account: &AccountId,
        key_id: KeyId,
    ) -> Result<bool, StoreError>;

    /// Adds `version` to its key and makes it the current version, in one transaction, and
    /// announces the change; `version.created_at` is the rotation date. Nothing changes, and
    /// the answer is false, unless the key exists in `account`, is in `expected_state` and is
    /// still at the version before `version.version`, and, for [`RotationTrigger::Automatic`],
    /// its automatic rotation is due at the rotation date; an automatic rotation also moves the
    /// next one a period after it. An on-demand rotation of a key that has had `limit` of them
    /// is [`StoreError::LimitExceeded`].
    async fn rotate_key(
        &self,
        account: &AccountId,
        version: &KeyVersion,
        expected_state: KeyState,
        trigger: RotationTrigger,
    ) -> Result<bool, StoreError>;

    /// The backing versions of a key in ascending order, starting after `after`, at most
    /// `limit` of them; the first version only with `include_first`.
    async fn list_key_rotations(
        &self,
        account: &AccountId,
        key_id: KeyId,
        after: Option<u32>,
        include_first: bool,
        limit: u32,
    ) -> Result<Vec<KeyRotation>, StoreError>;

    /// Enabled keys of every account whose automatic rotation is due at `now`, earliest first,
    /// at most `limit` of them. An administrative walk across accounts, used only by the
    /// automatic rotation task.
    async fn due_key_rotations(
        &self,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<DueRotation>, StoreError>;

    // Key lifecycle: state changes that must not overwrite a concurrent one, descriptions, and
    // the deletion of keys whose waiting period is over.

    /// Sets a key's state and deletion date only if its state is still `expected`
    /// (compare-and-set, so a concurrent change is never overwritten), and announces the change.
    /// Returns false if the key does not exist or is in another state.
    async fn set_key_state_if(
        &self,
        account: &AccountId,
        key_id: KeyId,
        expected: KeyState,
        state: KeyState,
        deletion_date: Option<Millis>,
    ) -> Result<bool, StoreError>;

    /// Replaces a key's description only if its state is still `expected`, and announces the
    /// change. Returns false if the key does not exist or is in another state.
    async fn update_key_description(
        &self,
        account: &AccountId,
        key_id: KeyId,
        expected: KeyState,
        description: &str,
    ) -> Result<bool, StoreError>;

    /// Deletes up to `limit` keys that are pending deletion with a deletion date at or before
    /// `now`, each with its versions and aliases, in one transaction, and announces every key and
    /// alias deleted. Returns the deleted keys, earliest deletion date first. An administrative
    /// walk across accounts. Safe to run from several processes at once: a key is deleted, and
    /// returned, by one call only, and never after a concurrent cancellation committed.
    async fn delete_due_keys(
        &self,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<(AccountId, KeyId)>, StoreError>;

    // Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant and RevokeGrant. A
    // grant goes with its key.

    /// Adds a grant to its key, provided the key is still in `state`, the state the caller
    /// checked the request against, and announces the change as one of the key. A request that
    /// repeats a stored grant (the same grant id, or the same name and parameters on the key)
    /// adds nothing and returns that grant. A key that would be left with more than
    /// `max_per_key` grants is [`StoreError::LimitExceeded`]; a grant id another grant has is
    /// [`StoreError::AlreadyExists`].
    async fn create_grant(
        &self,
        grant: &GrantRecord,
        state: KeyState,
        max_per_key: u32,
    ) -> Result<GrantCreation, StoreError>;

    /// The account's grant with this id, on whichever key.
    async fn grant(
        &self,
        account: &AccountId,
        grant_id: GrantId,
    ) -> Result<Option<GrantRecord>, StoreError>;

    /// A key's grants that pass `filter`, in ascending order of their ids' text, starting
    /// after `after`, at most `limit` of them.
    async fn list_grants(
        &self,
        account: &AccountId,
        key_id: KeyId,
        filter: &GrantFilter<'_>,
        after: Option<GrantId>,
        limit: u32,
    ) -> Result<Vec<GrantRecord>, StoreError>;

    /// The account's grants, on any key, that `retiring` may retire, in ascending order of
    /// their ids' text, starting after `after`, at most `limit` of them.
    async fn list_retirable_grants(
        &self,
        account: &AccountId,
        retiring: &Principal,
        after: Option<GrantId>,
        limit: u32,
    ) -> Result<Vec<GrantRecord>, StoreError>;

    /// Removes a key's grant and announces the change as one of the key. Returns false if the
    /// key has no grant with this id.
    async fn delete_grant(
        &self,
        account: &AccountId,
        key_id: KeyId,
        grant_id: GrantId,
    ) -> Result<bool, StoreError>;

    /// The account that holds the key with this id, in whichever account: key ids are unique
    /// across accounts, and a ciphertext names its key by id alone.
    async fn key_owner(&self, key_id: KeyId) -> Result<Option<AccountId>, StoreError>;

    // Accounts, their quota overrides and access keys: administrative writes, read when a
    // gateway checks a signature. Not announced; gateways hold what they read for a bounded
    // time.

    /// Adds an account. Returns false, changing nothing, if it exists.
    async fn create_account(&self, account: &AccountId, now: Millis) -> Result<bool, StoreError>;

    /// An account and its quota overrides.
    async fn account(&self, account: &AccountId) -> Result<Option<AccountRecord>, StoreError>;

    /// Every account's id, in ascending order.
    async fn account_ids(&self) -> Result<Vec<AccountId>, StoreError>;

    /// Sets an account's quota for one class, or with `None` returns it to the default.
    /// Returns whether a row changed; an unknown account is [`StoreError::NotFound`].
    async fn set_account_quota(
        &self,
        account: &AccountId,
        class: &str,
        requests_per_second: Option<u32>,
    ) -> Result<bool, StoreError>;

    /// Adds an access key to its account: [`StoreError::NotFound`] if the account does not
    /// exist, [`StoreError::AlreadyExists`] if the id is taken.
    async fn create_access_key(&self, key: &AccessKeyRecord) -> Result<(), StoreError>;

    /// The access key with this id, in whichever account.
    async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, StoreError>;

    /// An account's access keys, in ascending order of id.
    async fn access_keys(&self, account: &AccountId) -> Result<Vec<AccessKeyRecord>, StoreError>;

    /// Removes an account's access key. Returns false if the account has no such key.
    async fn delete_access_key(
        &self,
        account: &AccountId,
        access_key_id: &str,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` access keys whose secret is not wrapped under `root_key_id`, in ascending
    /// order of id after `after`. An administrative walk across accounts.
    async fn access_keys_not_wrapped_under(
        &self,
        root_key_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccessKeyRecord>, StoreError>;

    /// Replaces an access key's wrapped secret, only if it is still wrapped under
    /// `old_root_key_id`. Returns whether it was replaced.
    async fn rewrap_access_key(
        &self,
        access_key_id: &str,
        old_root_key_id: &str,
        new_root_key_id: &str,
        wrapped_secret: &[u8],
    ) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests;
