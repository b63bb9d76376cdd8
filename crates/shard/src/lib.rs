//! Keyshard's key-holding shard: the gRPC service behind the gateway. It resolves key
//! identifiers, applies the key-state table, unwraps backing keys with the root key and does
//! every cryptographic operation. Nothing else in Keyshard sees key material in the clear.

mod aliases;
mod authz;
mod cache;
mod credentials;
mod crypto_ops;
mod error;
mod grants;
mod keys;
mod lifecycle;
mod policies;
mod reencrypt;
pub mod rewrap;
mod rotation;
mod service;
mod tags;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use authz::KeyAccess;
use cache::KeyCache;
use keyshard_core::id::AccountId;
use keyshard_crypto::RootKeyRing;
use keyshard_proto::v1::shard_server::ShardServer;
use keyshard_store::{Millis, Store, StoreChange};
use tokio::sync::broadcast::error::RecvError;

pub use cache::CacheConfig;
pub use rotation::{RotationConfig, RotationPass};

/// Counts of the cache's answers.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

/// The shard's state: where keys are stored, the root keys that unwrap them, and the cache.
pub struct Shard {
    store: Arc<dyn Store>,
    root_keys: RootKeyRing,
    cache: KeyCache,
    /// Each account's default key policy, parsed once, with no grants: what most of its keys
    /// share.
    default_access: moka::sync::Cache<AccountId, Arc<KeyAccess>>,
    rotation: RotationConfig,
}

impl Shard {
    pub fn new(store: Arc<dyn Store>, root_keys: RootKeyRing, cache: CacheConfig) -> Self {
        Self {
            store,
            root_keys,
            cache: KeyCache::new(cache),
            default_access: moka::sync::Cache::new(10_000),
            rotation: RotationConfig::default(),
        }
    }

    /// Cache lookups answered from memory and from the store, since start.
    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            hits: self.cache.hits(),
            misses: self.cache.misses(),
        }
    }

    /// Whether the shard can serve: its root keys are loaded (a `Shard` has them from the
    /// start) and its store answers. Unavailable answers `DependencyTimeoutException`.
    pub async fn ready(&self) -> Result<(), keyshard_core::KmsError> {
        self.store.ping().await.map_err(error::from_store)
    }

    /// SQL statements the store has sent since it was opened.
    pub fn store_queries(&self) -> u64 {
        self.store.query_count()
    }

    /// How long those statements took.
    pub fn store_query_durations(&self) -> keyshard_core::histogram::Histogram {
        self.store.query_durations()
    }

    /// Drops cached copies as the store announces committed changes, for as long as the store
    /// lives. A lagging receiver may have missed changes, so it drops everything.
    pub fn spawn_change_listener(self: &Arc<Self>) {
        let shard = Arc::downgrade(self);
        let mut changes = self.store.changes();
        tokio::spawn(async move {
            loop {
                let change = changes.recv().await;
                let Some(shard) = shard.upgrade() else { return };
                match change {
                    Ok(StoreChange::Key { account, key_id }) => {
                        shard.cache.invalidate_key(&account, key_id)
                    }
                    Ok(StoreChange::Alias { account, name }) => {
                        shard.cache.invalidate_alias(&account, &name)
                    }
                    Ok(StoreChange::All) | Err(RecvError::Lagged(_)) => {
                        shard.cache.invalidate_all()
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    /// The tonic service for this shard, ready to add to a server.
    pub fn service(self: &Arc<Self>) -> ShardServer<service::ShardService> {
        ShardServer::new(service::ShardService::new(Arc::clone(self)))
    }
}

fn now_millis() -> Millis {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Millis::try_from(since_epoch.as_millis()).unwrap_or(Millis::MAX)
}
