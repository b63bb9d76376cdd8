//! Keyshard's key-holding shard: the gRPC service behind the gateway. It resolves key
//! identifiers, applies the key-state table, unwraps backing keys with the root key and does
//! every cryptographic operation. Nothing else in Keyshard sees key material in the clear.

mod aliases;
mod crypto_ops;
mod error;
mod keys;
mod service;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use keyshard_crypto::RootKeyRing;
use keyshard_proto::v1::shard_server::ShardServer;
use keyshard_store::{Millis, Store};

/// The shard's state: where keys are stored and the root keys that unwrap them.
pub struct Shard {
    store: Arc<dyn Store>,
    root_keys: RootKeyRing,
}

impl Shard {
    pub fn new(store: Arc<dyn Store>, root_keys: RootKeyRing) -> Self {
        Self { store, root_keys }
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
