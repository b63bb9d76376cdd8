//! `keyshard gateway`: the JSON 1.1 front end, in front of shards listed by address. It holds
//! no database connection and no key material.

use std::sync::Arc;

use keyshard_gateway::{AuthMode, Gateway, ShardPool};

use crate::admin;
use crate::config::{GatewayArgs, ScopeError};
use crate::net::{self, ListenError};

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
}

pub(crate) async fn run(args: GatewayArgs) -> Result<(), GatewayError> {
    let scope = args.scope.parse()?;
    let addresses: Vec<String> = args
        .shards
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if addresses.is_empty() {
        return Err(GatewayError::NoShards);
    }
    let shards = ShardPool::new(&addresses)?;
    let gateway = Arc::new(Gateway::new(
        scope.clone(),
        AuthMode::DangerAcceptAnyCredentials,
        shards,
    ));
    admin::serve(args.metrics_listen, admin::gateway_metrics(&gateway)).await?;
    let listener = net::bind(&args.listen.to_string()).await?;
    let listen = net::local_address(&listener)?;

    warn_unverified_credentials(&scope);
    tracing::info!(%listen, shards = %addresses.join(","), region = %scope.region, "keyshard gateway ready to serve");
    keyshard_gateway::serve(listener, gateway, net::shutdown_signal()).await;
    tracing::info!("keyshard gateway stopped");
    Ok(())
}

/// Says plainly that signatures are not verified yet.
pub(crate) fn warn_unverified_credentials(scope: &keyshard_core::id::Scope) {
    tracing::warn!(
        account = %scope.account,
        "SigV4 signatures are not verified: any credentials are accepted as this one account"
    );
}
