//! The shard's cache: per key, its record, its policy and grants, and its unwrapped backing
//! versions, in one entry; and alias targets. Bounded in size and age (DESIGN.md, "Routing,
//! caching, consistency").
//!
//! Entries older than the TTL are treated as absent even when the change that made them stale
//! was never announced. A copy read from the store while an invalidation ran is not kept: each
//! fill carries the [`Ticket`] taken before its read, and a fill whose ticket an invalidation
//! outdated removes what it inserted. Unwrapped keys are held as `Arc<BackingKey>`; the key
//! bytes are wiped when the last holder drops them, which eviction does. Keeping all of a key
//! in one entry makes a cached key cost one entry's overhead and drops every part of it at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use keyshard_core::id::{AccountId, AliasName, KeyId};
use keyshard_crypto::BackingKey;
use keyshard_store::KeyRecord;
use moka::sync::Cache;
use tokio::time::Instant;

use crate::authz::KeyAccess;

/// Size and age bounds of the cache.
#[derive(Clone, Copy, Debug)]
pub struct CacheConfig {
    /// Most keys (and, separately, aliases) held at once.
    pub capacity: u64,
    /// Longest time an entry is trusted without a change announcement.
    pub ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            ttl: Duration::from_secs(60),
        }
    }
}

#[derive(Clone)]
struct Entry<T> {
    value: T,
    loaded_at: Instant,
}

/// What is cached of one key. The record comes first; its policy and grants and its versions
/// are added as requests need them.
struct KeyEntry {
    record: KeyRecord,
    access: OnceLock<Arc<KeyAccess>>,
    /// Unwrapped versions by number; most keys have one or two.
    material: RwLock<Vec<(u32, Arc<BackingKey>)>>,
}

/// Taken before reading what a fill will insert: the invalidation count at that moment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket(u64);

/// The caches and their hit counters.
pub(crate) struct KeyCache {
    ttl: Duration,
    /// By key id alone: key ids are unique across accounts, and a lookup checks the account.
    keys: Cache<KeyId, Entry<Arc<KeyEntry>>>,
    aliases: Cache<(AccountId, AliasName), Entry<KeyId>>,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Invalidations so far; see [`Ticket`].
    invalidations: AtomicU64,
}

impl KeyCache {
    pub(crate) fn new(config: CacheConfig) -> Self {
        // moka's own TTL frees memory; freshness is decided by `loaded_at`, which tests can
        // control with tokio's paused clock.
        Self {
            ttl: config.ttl,
            // No moka TTL here: `loaded_at` decides freshness, and the size bound frees memory,
            // which saves moka's per-entry expiry bookkeeping on the largest cache.
            keys: Cache::builder().max_capacity(config.capacity).build(),
            aliases: Cache::builder()
                .max_capacity(config.capacity)
                .time_to_live(config.ttl)
                .build(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
        }
    }

    /// A ticket to take before reading from the store what will be put.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.invalidations.load(Ordering::SeqCst))
    }

    /// Whether an invalidation ran since `ticket` was taken.
    fn outdated(&self, ticket: Ticket) -> bool {
        self.invalidations.load(Ordering::SeqCst) != ticket.0
    }

    pub(crate) fn record(&self, account: &AccountId, key_id: KeyId) -> Option<KeyRecord> {
        let entry = self.key_entry(account, key_id);
        self.count(entry.map(|e| e.record.clone()))
    }

    /// Caches a key's record, in place of whatever was cached of the key.
    pub(crate) fn put_record(&self, ticket: Ticket, record: &KeyRecord) {
        let key = record.key_id;
        if self.outdated(ticket) {
            return;
        }
        let entry = Arc::new(KeyEntry {
            record: record.clone(),
            access: OnceLock::new(),
            material: RwLock::new(Vec::new()),
        });
        self.keys.insert(key, self.entry(entry));
        if self.outdated(ticket) {
            self.keys.invalidate(&key);
        }
    }

    pub(crate) fn access(&self, account: &AccountId, key_id: KeyId) -> Option<Arc<KeyAccess>> {
        let entry = self.key_entry(account, key_id);
        self.count(entry.and_then(|e| e.access.get().cloned()))
    }

    /// Adds a key's policy and grants to its cached entry; nothing when the key is not cached.
    pub(crate) fn put_access(
        &self,
        ticket: Ticket,
        account: &AccountId,
        key_id: KeyId,
        access: Arc<KeyAccess>,
    ) {
        self.add_to_key(ticket, account, key_id, |entry| {
            // A concurrent fill may have set it first; both read the same committed state.
            let _ = entry.access.set(access);
        });
    }

    pub(crate) fn material(
        &self,
        account: &AccountId,
        key_id: KeyId,
        version: u32,
    ) -> Option<Arc<BackingKey>> {
        let entry = self.key_entry(account, key_id);
        let found = entry.and_then(|e| {
            let versions = e.material.read().unwrap_or_else(PoisonError::into_inner);
            versions
                .iter()
                .find(|(v, _)| *v == version)
                .map(|(_, key)| Arc::clone(key))
        });
        self.count(found)
    }

    /// Adds an unwrapped version to its key's cached entry; nothing when the key is not cached.
    pub(crate) fn put_material(
        &self,
        ticket: Ticket,
        account: &AccountId,
        key_id: KeyId,
        version: u32,
        key: Arc<BackingKey>,
    ) {
        self.add_to_key(ticket, account, key_id, |entry| {
            let mut versions = entry
                .material
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if versions.iter().all(|(v, _)| *v != version) {
                // Most keys have one version: no room for more than they hold.
                versions.reserve_exact(1);
                versions.push((version, key));
            }
        });
    }

    pub(crate) fn alias(&self, account: &AccountId, name: &AliasName) -> Option<KeyId> {
        let found = self.live(self.aliases.get(&(account.clone(), name.clone())));
        self.count(found)
    }

    pub(crate) fn put_alias(
        &self,
        ticket: Ticket,
        account: &AccountId,
        name: &AliasName,
        target: KeyId,
    ) {
        let key = (account.clone(), name.clone());
        if self.outdated(ticket) {
            return;
        }
        self.aliases.insert(key.clone(), self.entry(target));
        if self.outdated(ticket) {
            self.aliases.invalidate(&key);
        }
    }

    /// Drops everything cached for one key.
    pub(crate) fn invalidate_key(&self, account: &AccountId, key_id: KeyId) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        let cached = self.keys.get(&key_id);
        if cached.is_some_and(|entry| entry.value.record.account == *account) {
            self.keys.invalidate(&key_id);
        }
    }

    pub(crate) fn invalidate_alias(&self, account: &AccountId, name: &AliasName) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.aliases.invalidate(&(account.clone(), name.clone()));
    }

    pub(crate) fn invalidate_all(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.keys.invalidate_all();
        self.aliases.invalidate_all();
    }

    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub(crate) fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// The key's entry if it is cached, fresh and the account's; not counted.
    fn key_entry(&self, account: &AccountId, key_id: KeyId) -> Option<Arc<KeyEntry>> {
        self.live(self.keys.get(&key_id))
            .filter(|entry| entry.record.account == *account)
    }

    /// Applies `add` to the key's fresh entry, unless an invalidation ran since `ticket`; if one
    /// ran meanwhile, drops the key's entry.
    fn add_to_key(
        &self,
        ticket: Ticket,
        account: &AccountId,
        key_id: KeyId,
        add: impl FnOnce(&KeyEntry),
    ) {
        if self.outdated(ticket) {
            return;
        }
        let Some(entry) = self.key_entry(account, key_id) else {
            return;
        };
        add(&entry);
        if self.outdated(ticket) {
            self.keys.invalidate(&key_id);
        }
    }

    fn entry<T>(&self, value: T) -> Entry<T> {
        Entry {
            value,
            loaded_at: Instant::now(),
        }
    }

    fn live<T>(&self, entry: Option<Entry<T>>) -> Option<T> {
        entry
            .filter(|e| e.loaded_at.elapsed() < self.ttl)
            .map(|e| e.value)
    }

    fn count<T>(&self, value: Option<T>) -> Option<T> {
        let counter = if value.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        value
    }
}

#[cfg(test)]
mod tests {
    use keyshard_core::spec::{KeySpec, KeyState, KeyUsage, Origin};

    use super::*;

    fn account() -> AccountId {
        "111122223333".parse().unwrap()
    }

    fn record(key_id: KeyId) -> KeyRecord {
        KeyRecord {
            account: account(),
            key_id,
            description: String::new(),
            key_spec: KeySpec::SymmetricDefault,
            key_usage: KeyUsage::EncryptDecrypt,
            origin: Origin::AwsKms,
            state: KeyState::Enabled,
            created_at: 0,
            deletion_date: None,
            current_version: 1,
        }
    }

    fn cache(ttl_secs: u64) -> KeyCache {
        KeyCache::new(CacheConfig {
            capacity: 100,
            ttl: Duration::from_secs(ttl_secs),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn an_entry_is_served_until_its_ttl_runs_out() {
        let cache = cache(60);
        let key_id = KeyId::generate();
        cache.put_record(cache.ticket(), &record(key_id));
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(cache.record(&account(), key_id), Some(record(key_id)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(cache.record(&account(), key_id), None);
        assert_eq!((cache.hits(), cache.misses()), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn invalidating_a_key_drops_its_record_and_every_version() {
        let cache = cache(60);
        let (key_id, other) = (KeyId::generate(), KeyId::generate());
        cache.put_record(cache.ticket(), &record(key_id));
        cache.put_record(cache.ticket(), &record(other));
        for version in [1, 2] {
            cache.put_material(
                cache.ticket(),
                &account(),
                key_id,
                version,
                BackingKey::generate().unwrap(),
            );
        }
        cache.put_material(
            cache.ticket(),
            &account(),
            other,
            1,
            BackingKey::generate().unwrap(),
        );
        cache.invalidate_key(&account(), key_id);
        assert_eq!(cache.record(&account(), key_id), None);
        assert!(cache.material(&account(), key_id, 1).is_none());
        assert!(cache.material(&account(), key_id, 2).is_none());
        assert!(cache.material(&account(), other, 1).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn versions_are_kept_only_with_their_keys_record() {
        let cache = cache(60);
        let key_id = KeyId::generate();
        let backing = || BackingKey::generate().unwrap();
        cache.put_material(cache.ticket(), &account(), key_id, 1, backing());
        assert!(cache.material(&account(), key_id, 1).is_none());
        cache.put_record(cache.ticket(), &record(key_id));
        cache.put_material(cache.ticket(), &account(), key_id, 1, backing());
        assert!(cache.material(&account(), key_id, 1).is_some());
        assert!(cache.material(&account(), key_id, 2).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_fill_read_before_an_invalidation_is_not_kept() {
        let cache = cache(60);
        let (key_id, other) = (KeyId::generate(), KeyId::generate());
        let ticket = cache.ticket();
        cache.invalidate_key(&account(), other);
        cache.put_record(ticket, &record(key_id));
        assert_eq!(cache.record(&account(), key_id), None);
        cache.put_record(cache.ticket(), &record(key_id));
        assert_eq!(cache.record(&account(), key_id), Some(record(key_id)));
    }

    #[tokio::test(start_paused = true)]
    async fn aliases_are_dropped_one_by_one_or_all_at_once() {
        let cache = cache(60);
        let (a, b) = (
            AliasName::parse("alias/a").unwrap(),
            AliasName::parse("alias/b").unwrap(),
        );
        let key_id = KeyId::generate();
        cache.put_alias(cache.ticket(), &account(), &a, key_id);
        cache.put_alias(cache.ticket(), &account(), &b, key_id);
        cache.invalidate_alias(&account(), &a);
        assert_eq!(cache.alias(&account(), &a), None);
        assert_eq!(cache.alias(&account(), &b), Some(key_id));
        cache.invalidate_all();
        assert_eq!(cache.alias(&account(), &b), None);
    }
}
