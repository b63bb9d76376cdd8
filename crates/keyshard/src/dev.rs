//! `keyshard dev`: gateway and one shard in one process, on an SQLite store in a data
//! directory, with a root key generated there on first start. The gateway still reaches the
//! shard through its gRPC API, over loopback.

use std::sync::Arc;

use keyshard_core::id::Scope;
use keyshard_gateway::{AuthMode, Gateway, ShardPool};
use keyshard_shard::Shard;
use keyshard_store::SqliteStore;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::DevArgs;
use crate::root_key::{self, RootKeyError};

const DATABASE_FILE: &str = "keyshard.db";
const ROOT_KEY_FILE: &str = "root-key";

/// Why `keyshard dev` could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DevError {
    #[error("invalid --account-id `{0}`: an account id is 12 digits")]
    Account(String),

    #[error("invalid --region `{0}`")]
    Region(String),

    #[error(transparent)]
    RootKey(#[from] RootKeyError),

    #[error("cannot open the embedded store")]
    Store(#[source] keyshard_store::StoreError),

    #[error("cannot listen on {address}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid shard address")]
    ShardAddress(#[from] keyshard_gateway::InvalidShardAddress),
}

pub(crate) async fn run(args: DevArgs) -> Result<(), DevError> {
    let scope = Scope {
        account: args
            .account_id
            .parse()
            .map_err(|_| DevError::Account(args.account_id.clone()))?,
        region: args
            .region
            .parse()
            .map_err(|_| DevError::Region(args.region.clone()))?,
    };
    let root_key_path = args.data_dir.join(ROOT_KEY_FILE);
    if root_key::ensure_generated(&args.data_dir, &root_key_path)? {
        tracing::info!(path = %root_key_path.display(), "generated a development root key");
    }
    let root_key = root_key::load(&root_key_path)?;
    tracing::info!(root_key_id = %root_key.id(), path = %root_key_path.display(), "root key loaded");
    let store = SqliteStore::open(&args.data_dir.join(DATABASE_FILE))
        .await
        .map_err(DevError::Store)?;

    let shard_listener = bind("127.0.0.1:0").await?;
    let shard_address = local_address(&shard_listener)?;
    let shard = Shard::new(Arc::new(store), root_key);
    tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .add_service(shard.into_service())
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
    let listener = bind(&args.listen.to_string()).await?;
    let listen = local_address(&listener)?;

    tracing::warn!(
        data_dir = %args.data_dir.display(),
        account = %scope.account,
        "development mode: the root key is a plain file in the data directory and any \
         credentials are accepted, unverified, as this one account; do not use it in production"
    );
    tracing::info!(%listen, shard = %shard_address, region = %scope.region, "keyshard ready to serve");
    keyshard_gateway::serve(listener, gateway, shutdown_signal()).await;
    tracing::info!("keyshard stopped");
    Ok(())
}

async fn bind(address: &str) -> Result<TcpListener, DevError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| DevError::Listen {
            address: address.to_owned(),
            source,
        })
}

fn local_address(listener: &TcpListener) -> Result<String, DevError> {
    listener
        .local_addr()
        .map(|a| a.to_string())
        .map_err(|source| DevError::Listen {
            address: "bound socket".to_owned(),
            source,
        })
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; stop with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
