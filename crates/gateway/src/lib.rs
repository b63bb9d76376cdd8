//! Keyshard's stateless gateway: it speaks the AWS KMS JSON 1.1 protocol to clients,
//! authenticates and validates each call against the API model, and forwards it over gRPC to
//! the shard that rendezvous hashing picks for the key. It holds no database connection and no
//! key material.

mod json;
mod metrics;
mod ops;
mod protocol;
mod routing;
mod server;
// Until the server verifies signatures, only the shape check is called outside tests.
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "signature verification awaits the signing-key source"
    )
)]
mod sigv4;

use keyshard_core::id::Scope;

pub use routing::{InvalidShardAddress, ShardPool};
pub use server::serve;

/// How the gateway establishes who is calling.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum AuthMode {
    /// Development only: any well-formed SigV4 `Authorization` header is accepted, unverified,
    /// and every caller acts in the one configured account.
    DangerAcceptAnyCredentials,
}

/// Everything a gateway needs to serve.
pub struct Gateway {
    /// The account and region callers act in.
    scope: Scope,
    auth: AuthMode,
    shards: ShardPool,
    metrics: metrics::Metrics,
}

impl Gateway {
    pub fn new(scope: Scope, auth: AuthMode, shards: ShardPool) -> Self {
        Self {
            scope,
            auth,
            shards,
            metrics: metrics::Metrics::default(),
        }
    }

    /// Requests answered so far, by operation and outcome, with their latency, as Prometheus
    /// text.
    pub fn metrics(&self) -> String {
        self.metrics.render()
    }
}
