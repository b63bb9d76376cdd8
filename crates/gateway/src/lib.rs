//! Keyshard's stateless gateway: it speaks the AWS KMS JSON 1.1 protocol to clients,
//! authenticates and validates each call against the API model, and forwards it over gRPC to
//! the shard that rendezvous hashing picks for the key. It holds no database connection and no
//! key material.

mod auth;
mod grpc;
mod json;
mod metrics;
mod ops;
mod protocol;
mod quota;
mod routing;
mod server;
mod sigv4;

use keyshard_core::id::Region;

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

/// Everything a gateway needs to serve.
pub struct Gateway {
    /// The region callers act in.
    region: Region,
    auth: auth::Authenticator,
    shards: ShardPool,
    /// `None` where no quota is enforced.
    quotas: Option<quota::Quotas>,
    metrics: metrics::Metrics,
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
        }
    }

    /// Requests answered so far, by operation and outcome, with their latency, as Prometheus
    /// text.
    pub fn metrics(&self) -> String {
        self.metrics.render()
    }
}
