//! `keyshard shard`: the key-holding gRPC service on Postgres.

use std::sync::Arc;
use std::time::Duration;

use keyshard_shard::{CacheConfig, Shard};
use keyshard_store::{PostgresStore, Store, StoreError};
use tonic::transport::server::TcpIncoming;

use crate::admin;
use crate::config::ShardArgs;
use crate::net::{self, ListenError};
use crate::root_key::{self, RootKeyError};
use crate::tls::{self, TlsSettingError};

/// Why `keyshard shard` could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ShardError {
    #[error("invalid --region `{0}`")]
    Region(String),

    #[error(transparent)]
    RootKey(#[from] RootKeyError),

    #[error("cannot use the database")]
    Store(#[from] StoreError),

    #[error(transparent)]
    Listen(#[from] ListenError),

    #[error("the gRPC server failed")]
    Serve(#[from] tonic::transport::Error),

    #[error(transparent)]
    Tls(#[from] TlsSettingError),
}

pub(crate) async fn run(args: ShardArgs) -> Result<(), ShardError> {
    let region = args
        .region
        .parse()
        .map_err(|_| ShardError::Region(args.region.clone()))?;
    let root_keys = root_key::ring(&args.root_keys)?;
    let tls = tls::shard_port(&args.tls, args.tls_reload)?;
    let store = PostgresStore::connect(&args.database_url).await?;
    if args.migrate {
        store.migrate().await?;
        tracing::info!("migrations applied");
    }
    let store = Arc::new(store);
    let cache = CacheConfig {
        capacity: args.cache_capacity,
        ttl: Duration::from_secs(args.cache_ttl_seconds),
    };
    let shard = Arc::new(
        Shard::new(Arc::clone(&store) as Arc<dyn Store>, root_keys, cache)
            .with_rotation(args.rotation.config()),
    );
    shard.spawn_change_listener();
    shard.spawn_automatic_rotation(region, args.rotation.check_interval());
    shard.spawn_key_deletion(args.key_deletion.interval());

    admin::serve(
        args.metrics_listen,
        shard_metrics(&shard),
        shard_ready(&shard),
    )
    .await?;

    let listener = net::bind(&args.listen.to_string()).await?;
    let listen = net::local_address(&listener)?;
    tracing::info!(%listen, tls = tls.is_some(), "keyshard shard ready to serve");
    // Once the signal comes, tonic answers the calls in flight and closes each connection; the
    // grace period bounds how long that may take.
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        net::shutdown_signal().await;
        let _ = stopping.send(());
    };
    let router = tonic::transport::Server::builder()
        .trace_fn(crate::telemetry::shard_call_span)
        .add_service(Shard::service(&shard));
    let served = async move {
        match tls {
            Some(tls) => {
                router
                    .serve_with_incoming_shutdown(tls.incoming(listener), signal)
                    .await
            }
            None => {
                // Without TCP_NODELAY, a response written in more than one segment waits for
                // the gateway's delayed ACK: about 40 ms per call when calls do not overlap.
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                router.serve_with_incoming_shutdown(incoming, signal).await
            }
        }
    };
    let grace = args.shutdown.grace();
    tokio::select! {
        served = served => served?,
        () = async {
            let _ = stopped.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_seconds = grace.as_secs(), "calls still open after the shutdown grace period are cut");
        }
    }
    tracing::info!("keyshard shard stopped");
    Ok(())
}

/// The readiness of a shard: its store answers.
pub(crate) fn shard_ready(shard: &Arc<Shard>) -> admin::ReadyFn {
    let shard = Arc::clone(shard);
    Arc::new(move || {
        let shard = Arc::clone(&shard);
        Box::pin(async move { shard.ready().await.is_ok() })
    })
}

/// The shard's counters: cache answers, and SQL statements sent with their durations.
pub(crate) fn shard_metrics(shard: &Arc<Shard>) -> admin::MetricsFn {
    let shard = Arc::clone(shard);
    Arc::new(move || {
        let stats = shard.cache_stats();
        let mut out = String::new();
        admin::counter(
            &mut out,
            "keyshard_cache_hits_total",
            "Cache lookups answered from memory.",
            stats.hits,
        );
        admin::counter(
            &mut out,
            "keyshard_cache_misses_total",
            "Cache lookups that went to the store.",
            stats.misses,
        );
        admin::counter(
            &mut out,
            "keyshard_store_queries_total",
            "SQL statements sent to the store.",
            shard.store_queries(),
        );
        out.push_str(
            "# HELP keyshard_store_query_duration_seconds Time from sending an SQL statement to \
             its answer, waiting for a connection included.\n\
             # TYPE keyshard_store_query_duration_seconds histogram\n",
        );
        shard
            .store_query_durations()
            .render(&mut out, "keyshard_store_query_duration_seconds", "");
        out
    })
}
