//! Keyshard's key-holding shard: the gRPC service behind the gateway. It resolves key
//! identifiers, applies the key-state table, unwraps backing keys with the root key and does
//! every cryptographic operation. Nothing else in Keyshard sees key material in the clear.

mod aliases;
mod cache;
mod crypto_ops;
mod error;
mod keys;
mod service;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cache::KeyCache;
use keyshard_core::id::{AccountId, KeyId};
use keyshard_crypto::RootKeyRing;
use keyshard_proto::v1::shard_server::ShardServer;
use keyshard_store::{Millis, Store};

pub use cache::CacheConfig;

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
}

impl Shard {
    pub fn new(store: Arc<dyn Store>, root_keys: RootKeyRing, cache: CacheConfig) -> Self {
        Self {
            store,
            root_keys,
            cache: KeyCache::new(cache),
        }
    }

    /// Cache lookups answered from memory and from the store, since start.
    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            hits: self.cache.hits(),
            misses: self.cache.misses(),
        }
    }

    /// Drops what the cache holds for one key, after a change committed elsewhere.
    pub fn forget_key(&self, account: &AccountId, key_id: KeyId) {
        self.cache.invalidate_key(account, key_id);
    }

    /// Drops everything cached, when changes may have been missed.
    pub fn forget_everything(&self) {
        self.cache.invalidate_all();
    }

    /// The tonic service for this shard, ready to add to a server.
    pub fn into_service(self) -> ShardServer<service::ShardService> {
        ShardServer::new(service::ShardService::new(Arc::new(self)))
    }
}

fn now_millis() -> Millis {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Millis::try_from(since_epoch.as_millis()).unwrap_or(Millis::MAX)
}
