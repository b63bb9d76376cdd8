//! `keyshard gateway`: the JSON 1.1 front end, in front of shards listed by address. It holds
//! no database connection and no key material.

use std::net::SocketAddr;
use std::sync::Arc;

use keyshard_gateway::{AuthMode, Gateway, QuotaSettings, ShardPool, parse_quota_overrides};
use keyshard_tls::ServerTls;

use crate::admin;
use crate::config::{GatewayArgs, GatewayAuth, ScopeError};
use crate::net::{self, ListenError};
use crate::tls::{self, TlsSettingError};

/// Why `keyshard gateway` could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GatewayError {
    #[error(transparent)]
    Scope(#[from] ScopeError),

    #[error("--shards lists no shard address")]
    NoShards,

    #[error(transparent)]
    ShardAddress(#[from] keyshard_gateway::InvalidShardAddress),

    #[error(transparent)]
    Listen(#[from] ListenError),

    #[error(transparent)]
    Quota(#[from] keyshard_gateway::QuotaSettingError),

    #[error(transparent)]
    Tls(#[from] TlsSettingError),
}

pub(crate) async fn run(args: GatewayArgs) -> Result<(), GatewayError> {
    let scope = args.scope.parse()?;
    let quotas = QuotaSettings {
        overrides: parse_quota_overrides(&args.quotas)?,
        replicas: args.gateway_replicas,
    };
    let addresses: Vec<String> = args
        .shards
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if addresses.is_empty() {
        return Err(GatewayError::NoShards);
    }
    let shard_tls = tls::to_shards(&args.shard_tls, args.tls_reload)?;
    let shards = ShardPool::new(&addresses, shard_tls.as_ref())?;
    let client_tls = tls::client_port(&args.tls, args.tls_reload)?;
    let auth = match args.auth {
        GatewayAuth::Sigv4 => AuthMode::SigV4,
        GatewayAuth::DangerAcceptAnyCredentials => {
            AuthMode::DangerAcceptAnyCredentials(scope.account.clone())
        }
    };
    let gateway = Arc::new(Gateway::new(
        scope.region.clone(),
        auth.clone(),
        shards,
        Some(quotas),
    ));
    let ready = admin::gateway_ready(&gateway);
    admin::serve(args.metrics_listen, admin::gateway_metrics(&gateway), ready).await?;
    let listener = net::bind(&args.listen.to_string()).await?;
    let listen = net::local_address(&listener)?;
    let grpc_listen = serve_public_grpc(args.grpc_listen, &gateway, client_tls.clone()).await?;

    if auth == AuthMode::SigV4 {
        tracing::info!("verifying SigV4 signatures against the credential store");
    } else {
        warn_unverified_credentials(&scope);
    }
    tracing::info!(%listen, tls = client_tls.is_some(), grpc_listen = grpc_listen.as_ref().map(tracing::field::display), shards = %addresses.join(","), region = %scope.region, "keyshard gateway ready to serve");
    let grace = args.shutdown.grace();
    keyshard_gateway::serve(listener, gateway, client_tls, net::shutdown_signal(), grace).await;
    tracing::info!("keyshard gateway stopped");
    Ok(())
}

/// Starts the public gRPC API on `address`, if given, over TLS when `tls` is given, until the
/// process is asked to stop, and returns the address it bound.
pub(crate) async fn serve_public_grpc(
    address: Option<SocketAddr>,
    gateway: &Arc<Gateway>,
    tls: Option<ServerTls>,
) -> Result<Option<String>, ListenError> {
    let Some(address) = address else {
        return Ok(None);
    };
    let listener = net::bind(&address.to_string()).await?;
    let bound = net::local_address(&listener)?;
    let gateway = Arc::clone(gateway);
    tokio::spawn(async move {
        let served =
            keyshard_gateway::serve_grpc(listener, gateway, tls, net::shutdown_signal()).await;
        if let Err(err) = served {
            tracing::error!(error = %err, "the public gRPC API stopped");
        }
    });
    Ok(Some(bound))
}

/// Says plainly that signatures are not verified yet.
pub(crate) fn warn_unverified_credentials(scope: &keyshard_core::id::Scope) {
    tracing::warn!(
        account = %scope.account,
        "SigV4 signatures are not verified: any credentials are accepted as this one account"
    );
}
