//! `keyshard dev`: gateway and one shard in one process, on an SQLite store in a data
//! directory, with a root key generated there on first start. The gateway still reaches the
//! shard through its gRPC API, over an in-memory transport (`in_process`).

use std::sync::Arc;

use keyshard_crypto::RootKeyRing;
use keyshard_gateway::{AuthMode, Gateway, QuotaSettings, ShardPool, parse_quota_overrides};
use keyshard_shard::{CacheConfig, Shard};
use keyshard_store::SqliteStore;

use crate::admin;
use crate::config::{DevArgs, ScopeError};
use crate::data_dir::{self, DataDirError};
use crate::in_process;
use crate::net::{self, ListenError};
use crate::tls::{self, TlsSettingError};

/// Why `keyshard dev` could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DevError {
    #[error(transparent)]
    Scope(#[from] ScopeError),

    #[error(transparent)]
    DataDir(#[from] DataDirError),

    #[error("cannot open the embedded store")]
    Store(#[source] keyshard_store::StoreError),

    #[error(transparent)]
    Listen(#[from] ListenError),

    #[error(transparent)]
    Quota(#[from] keyshard_gateway::QuotaSettingError),

    #[error(transparent)]
    Tls(#[from] TlsSettingError),
}

/// How the shard is named in logs: it has no address.
const IN_PROCESS_SHARD: &str = "in-process";

pub(crate) async fn run(args: DevArgs) -> Result<(), DevError> {
    let scope = args.scope.parse()?;
    let quotas = if args.quotas.is_empty() {
        None
    } else {
        Some(QuotaSettings {
            overrides: parse_quota_overrides(&args.quotas)?,
            replicas: 1,
        })
    };
    let client_tls = tls::client_port(&args.tls, args.tls_reload)?;
    let data_dir = data_dir::open(&args.data_dir)?;
    let store = SqliteStore::open(&data_dir.database)
        .await
        .map_err(DevError::Store)?;

    let (shard_channel, shard_connections) = in_process::transport();
    let shard = Arc::new(
        Shard::new(
            Arc::new(store),
            RootKeyRing::new(data_dir.root_key, Vec::new()),
            CacheConfig::default(),
        )
        .with_rotation(args.rotation.config()),
    );
    shard.spawn_change_listener();
    shard.spawn_automatic_rotation(scope.region.clone(), args.rotation.check_interval());
    shard.spawn_key_deletion(args.key_deletion.interval());
    let shard_metrics = crate::shard::shard_metrics(&shard);
    tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .trace_fn(crate::telemetry::shard_call_span)
            .add_service(Shard::service(&shard))
            .serve_with_incoming(shard_connections)
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "shard server stopped");
        }
    });

    let shards = ShardPool::single(IN_PROCESS_SHARD, shard_channel);
    let gateway = Arc::new(Gateway::new(
        scope.region.clone(),
        AuthMode::DangerAcceptAnyCredentials(scope.account.clone()),
        shards,
        quotas,
    ));
    let metrics = admin::combine(vec![admin::gateway_metrics(&gateway), shard_metrics]);
    admin::serve(args.metrics_listen, metrics, admin::gateway_ready(&gateway)).await?;
    let listener = net::bind(&args.listen.to_string()).await?;
    let listen = net::local_address(&listener)?;
    let grpc_listen =
        crate::gateway::serve_public_grpc(args.grpc_listen, &gateway, client_tls.clone()).await?;

    tracing::warn!(
        data_dir = %args.data_dir.display(),
        account = %scope.account,
        "development mode: the root key is a plain file in the data directory and any \
         credentials are accepted, unverified, as this one account; do not use it in production"
    );
    if !args.listen.ip().is_loopback() {
        tracing::warn!(
            %listen,
            "development mode on a non-loopback address: anyone who can reach it can use every key"
        );
    }
    tracing::info!(%listen, tls = client_tls.is_some(), grpc_listen = grpc_listen.as_ref().map(tracing::field::display), shard = IN_PROCESS_SHARD, region = %scope.region, "keyshard ready to serve");
    let grace = args.shutdown.grace();
    keyshard_gateway::serve(listener, gateway, client_tls, net::shutdown_signal(), grace).await;
    tracing::info!("keyshard stopped");
    Ok(())
}
