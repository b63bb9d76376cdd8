//! Keyshard's stateless gateway: it speaks the AWS KMS JSON 1.1 protocol to clients,
//! authenticates and validates each call against the API model, and forwards it over gRPC to
//! the shard that rendezvous hashing picks for the key. It holds no database connection and no
//! key material.

mod auth;
mod connection;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod grpc;
mod json;
mod metrics;
mod ops;
mod protocol;
mod quota;
mod routing;
mod server;
mod sigv4;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use keyshard_core::id::Region;
use keyshard_proto::v1;

pub use auth::AuthMode;
pub use grpc::{GrpcServeError, serve_grpc};
pub use quota::{
    ALL as ALL_QUOTA_CLASSES, QuotaOverrides, QuotaSettingError, is_class as is_quota_class,
    parse_overrides as parse_quota_overrides,
};
pub use routing::{InvalidShardAddress, ShardPool};
pub use server::serve;

/// The request quotas a gateway enforces.
#[derive(Clone, Debug, Default)]
pub struct QuotaSettings {
    /// Overrides of AWS's default quotas for every account; an account's own settings in the
    /// credential store win over these.
    pub overrides: QuotaOverrides,
    /// How many gateways share each quota: each enforces its share.
    pub replicas: u32,
}

/// How long a readiness check waits for a shard.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything a gateway needs to serve.
pub struct Gateway {
    /// The region callers act in.
    region: Region,
    auth: auth::Authenticator,
    shards: ShardPool,
    /// `None` where no quota is enforced.
    quotas: Option<quota::Quotas>,
    metrics: metrics::Metrics,
    /// Set once shutdown begins: the gateway reports itself not ready from then on.
    draining: AtomicBool,
}

impl Gateway {
    /// A gateway for `region` that authenticates as `auth` says and, given `quotas`, enforces
    /// them.
    pub fn new(
        region: Region,
        auth: AuthMode,
        shards: ShardPool,
        quotas: Option<QuotaSettings>,
    ) -> Self {
        Self {
            auth: auth::Authenticator::new(auth, region.clone()),
            region,
            shards,
            quotas: quotas.map(|q| quota::Quotas::new(q.overrides, q.replicas)),
            metrics: metrics::Metrics::default(),
            draining: AtomicBool::new(false),
        }
    }

    /// Whether the gateway should get requests: it is not shutting down, and a shard answers
    /// that it is ready within [`READY_TIMEOUT`].
    pub async fn ready(&self) -> bool {
        if self.draining.load(Ordering::Relaxed) {
            return false;
        }
        let asked = self.shards.call(
            b"readiness",
            routing::Retry::Idempotent,
            v1::Empty {},
            |mut c, r| async move { c.ready(r).await },
        );
        matches!(tokio::time::timeout(READY_TIMEOUT, asked).await, Ok(Ok(_)))
    }

    /// Requests answered so far, by operation and outcome, with their latency, the calls sent
    /// to each shard and those that failed over to another shard, as Prometheus text.
    pub fn metrics(&self) -> String {
        let mut out = self.metrics.render();
        out.push_str(
            "# HELP keyshard_shard_calls_total Calls sent to each shard, failed ones included.\n\
             # TYPE keyshard_shard_calls_total counter\n",
        );
        for (shard, calls) in self.shards.calls() {
            let _ = writeln!(
                out,
                "keyshard_shard_calls_total{{shard=\"{shard}\"}} {calls}"
            );
        }
        let _ = write!(
            out,
            "# HELP keyshard_shard_failovers_total Shard calls sent on to the next shard after a \
             transport failure.\n# TYPE keyshard_shard_failovers_total counter\n\
             keyshard_shard_failovers_total {}\n",
            self.shards.failovers()
        );
        out
    }
}
