//! `keyshard dev`: gateway and one shard in one process, on an SQLite store in a data
//! directory, with a root key generated there on first start. The gateway still reaches the
//! shard through its gRPC API, over loopback.

use std::sync::Arc;

use keyshard_crypto::RootKeyRing;
use keyshard_gateway::{AuthMode, Gateway, ShardPool};
use keyshard_shard::{CacheConfig, Shard};
use keyshard_store::SqliteStore;
use tokio_stream::wrappers::TcpListenerStream;

use crate::admin;
use crate::config::{DevArgs, ScopeError};
use crate::net::{self, ListenError};
use crate::root_key::{self, RootKeyError};

const DATABASE_FILE: &str = "keyshard.db";
const ROOT_KEY_FILE: &str = "root-key";

/// Why `keyshard dev` could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DevError {
    #[error(transparent)]
    Scope(#[from] ScopeError),

    #[error(transparent)]
    RootKey(#[from] RootKeyError),

    #[error("cannot open the embedded store")]
    Store(#[source] keyshard_store::StoreError),

    #[error(transparent)]
    Listen(#[from] ListenError),

    #[error(transparent)]
    ShardAddress(#[from] keyshard_gateway::InvalidShardAddress),
}

pub(crate) async fn run(args: DevArgs) -> Result<(), DevError> {
    let scope = args.scope.parse()?;
    let root_key_path = args.data_dir.join(ROOT_KEY_FILE);
    if root_key::ensure_generated(&args.data_dir, &root_key_path)? {
        tracing::info!(path = %root_key_path.display(), "generated a development root key");
    }
    let root_key = root_key::load(&root_key_path)?;
    tracing::info!(root_key_id = %root_key.id(), path = %root_key_path.display(), "root key loaded");
    let store = SqliteStore::open(&args.data_dir.join(DATABASE_FILE))
        .await
        .map_err(DevError::Store)?;

    let shard_listener = net::bind("127.0.0.1:0").await?;
    let shard_address = net::local_address(&shard_listener)?;
    let shard = Arc::new(Shard::new(
        Arc::new(store),
        RootKeyRing::new(root_key, Vec::new()),
        CacheConfig::default(),
    ));
    shard.spawn_change_listener();
    shard.spawn_key_deletion(args.key_deletion.interval());
    if let Some(address) = args.metrics_listen {
        let listener = net::bind(&address.to_string()).await?;
        let metrics_address = net::local_address(&listener)?;
        admin::spawn(listener, crate::shard::shard_metrics(&shard));
        tracing::info!(listen = %metrics_address, "metrics endpoint ready");
    }
    tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .add_service(Shard::service(&shard))
            .serve_with_incoming(TcpListenerStream::new(shard_listener))
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "shard server stopped");
        }
    });

    let shards = ShardPool::new(std::slice::from_ref(&shard_address))?;
    let gateway = Arc::new(Gateway::new(
        scope.clone(),
        AuthMode::DangerAcceptAnyCredentials,
        shards,
    ));
    let listener = net::bind(&args.listen.to_string()).await?;
    let listen = net::local_address(&listener)?;

    tracing::warn!(
        data_dir = %args.data_dir.display(),
        account = %scope.account,
        "development mode: the root key is a plain file in the data directory and any \
         credentials are accepted, unverified, as this one account; do not use it in production"
    );
    tracing::info!(%listen, shard = %shard_address, region = %scope.region, "keyshard ready to serve");
    keyshard_gateway::serve(listener, gateway, net::shutdown_signal()).await;
    tracing::info!("keyshard stopped");
    Ok(())
}
