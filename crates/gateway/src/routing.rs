//! Routing to shards: rendezvous hashing orders the shards for each key, the first is called,
//! and on a transport failure the next (DESIGN.md, "Routing, caching, consistency").

use opentelemetry::propagation::Injector;
use opentelemetry::trace::TraceContextExt as _;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use keyshard_core::KmsError;
use keyshard_proto::v1::shard_client::ShardClient;
use keyshard_proto::{carries_kms_error, error_from_status};
use keyshard_tls::ClientTls;
use tonic::transport::{Channel, Endpoint};
use tonic::{Response, Status};

/// Whether a call may be sent to the next shard after a transport failure.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Retry {
    /// Safe to repeat: reads, cryptographic operations, and CreateKey (its id is fixed before
    /// routing, so a repeat finds the same key).
    Idempotent,
    /// Alias changes: a repeat after an unseen success would report a spurious error.
    Once,
}

struct ShardEndpoint {
    address: String,
    client: ShardClient<Channel>,
    /// Calls sent to this shard, failed ones included.
    calls: AtomicU64,
}

/// The shards a gateway knows, each with a lazily connected gRPC channel.
pub struct ShardPool {
    shards: Vec<ShardEndpoint>,
    /// Calls sent on to the next shard after a transport failure.
    failovers: AtomicU64,
}

/// A shard address that is not a valid URI authority.
#[derive(Debug, thiserror::Error)]
#[error("invalid shard address `{address}`")]
pub struct InvalidShardAddress {
    address: String,
    #[source]
    source: tonic::transport::Error,
}

/// How long connecting to a shard may take before the call moves on.
const SHARD_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one call to a shard may take: a shard that hangs (paused, or cut off without a
/// reset) fails its calls after this long, and idempotent ones go on to the next shard.
const SHARD_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection that answers no HTTP/2 ping within this long is dropped.
const SHARD_KEEPALIVE: Duration = Duration::from_secs(5);

impl ShardPool {
    /// A pool over `host:port` addresses, reached over TLS when `tls` is given and over
    /// plaintext otherwise. Connections are made on first use.
    pub fn new(addresses: &[String], tls: Option<&ClientTls>) -> Result<Self, InvalidShardAddress> {
        // tonic's own TLS features are off, so an `https` endpoint reaches the connector as is.
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut shards = Vec::with_capacity(addresses.len());
        for address in addresses {
            let endpoint =
                Endpoint::from_shared(format!("{scheme}://{address}")).map_err(|source| {
                    InvalidShardAddress {
                        address: address.clone(),
                        source,
                    }
                })?;
            let endpoint = endpoint
                .connect_timeout(SHARD_CONNECT_TIMEOUT)
                .timeout(SHARD_CALL_TIMEOUT)
                .http2_keep_alive_interval(SHARD_KEEPALIVE)
                .keep_alive_timeout(SHARD_KEEPALIVE)
                .keep_alive_while_idle(true)
                .tcp_nodelay(true);
            let channel = match tls {
                Some(tls) => endpoint.connect_with_connector_lazy(tls.clone()),
                None => endpoint.connect_lazy(),
            };
            shards.push(ShardEndpoint {
                address: address.clone(),
                client: ShardClient::new(channel),
                calls: AtomicU64::new(0),
            });
        }
        Ok(Self {
            shards,
            failovers: AtomicU64::new(0),
        })
    }

    /// A pool of one shard reached over `channel`, such as an in-process transport; `name`
    /// stands for its address in logs and routing.
    pub fn single(name: &str, channel: Channel) -> Self {
        Self {
            shards: vec![ShardEndpoint {
                address: name.to_owned(),
                client: ShardClient::new(channel),
                calls: AtomicU64::new(0),
            }],
            failovers: AtomicU64::new(0),
        }
    }

    /// Calls sent on to the next shard after a transport failure, since start.
    pub(crate) fn failovers(&self) -> u64 {
        self.failovers.load(Ordering::Relaxed)
    }

    /// Each shard's address and the calls sent to it since start, in the order of the list.
    pub(crate) fn calls(&self) -> impl Iterator<Item = (&str, u64)> {
        self.shards
            .iter()
            .map(|s| (s.address.as_str(), s.calls.load(Ordering::Relaxed)))
    }

    /// The shards to try for `route_key`, as indices in rendezvous order.
    pub(crate) fn order(&self, route_key: &[u8]) -> Vec<usize> {
        rendezvous_order(self.shards.iter().map(|s| s.address.as_str()), route_key)
    }

    /// Calls the shard that owns `route_key`, failing over in rendezvous order.
    pub(crate) async fn call<Req, Resp, F, Fut>(
        &self,
        route_key: &[u8],
        retry: Retry,
        request: Req,
        rpc: F,
    ) -> Result<Resp, KmsError>
    where
        Req: Clone,
        F: Fn(ShardClient<Channel>, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        self.call_in_order(&self.order(route_key), retry, request, rpc)
            .await
    }

    /// Calls the first shard of `order` (from [`ShardPool::order`]), failing over to the next.
    pub(crate) async fn call_in_order<Req, Resp, F, Fut>(
        &self,
        order: &[usize],
        retry: Retry,
        request: Req,
        rpc: F,
    ) -> Result<Resp, KmsError>
    where
        Req: Clone,
        F: Fn(ShardClient<Channel>, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        let order = match retry {
            Retry::Idempotent => order,
            Retry::Once => &order[..order.len().min(1)],
        };
        let mut last = no_shard();
        let mut request = Some(request);
        for (attempt, index) in order.iter().copied().enumerate() {
            let shard = &self.shards[index];
            // Only a call that may go on to another shard keeps a copy of the request.
            let this_call = if attempt + 1 < order.len() {
                request.clone()
            } else {
                request.take()
            };
            let Some(this_call) = this_call else { break };
            let mut this_call = tonic::Request::new(this_call);
            propagate_trace(this_call.metadata_mut());
            shard.calls.fetch_add(1, Ordering::Relaxed);
            match rpc(shard.client.clone(), this_call).await {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) if is_transport_failure(&status) => {
                    // The cause is the transport's own error, such as the TLS alert a shard
                    // sent when it refused this gateway's certificate.
                    let cause = std::error::Error::source(&status);
                    tracing::warn!(shard = %shard.address, attempt, error = %status.message(), cause, "shard call failed");
                    last = transport_error(&status);
                    if attempt + 1 < order.len() {
                        self.failovers.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(status) => return Err(error_from_status(&status)),
            }
        }
        Err(last)
    }
}

/// Adds the current span's trace context to a call's metadata (W3C `traceparent`), so that the
/// shard's span joins the request's trace. Nothing is added when traces are not exported.
fn propagate_trace(metadata: &mut tonic::metadata::MetadataMap) {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return;
    }
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut Metadata(metadata));
    });
}

/// gRPC metadata as the propagator writes it.
struct Metadata<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for Metadata<'_> {
    fn set(&mut self, key: &str, value: String) {
        let key = tonic::metadata::MetadataKey::from_bytes(key.as_bytes());
        let value = tonic::metadata::MetadataValue::try_from(value);
        if let (Ok(key), Ok(value)) = (key, value) {
            self.0.insert(key, value);
        }
    }
}

fn no_shard() -> KmsError {
    KmsError::DependencyTimeout("No shard is available.".to_owned())
}

/// What a caller is told of a transport failure on the last shard tried: the shard could not be
/// reached (refused, reset, or its TLS handshake failed), which like a timeout is a retryable
/// 503, never an internal error.
fn transport_error(status: &Status) -> KmsError {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => error_from_status(status),
        _ => no_shard(),
    }
}

/// A status that came from the transport rather than from a shard's answer: shards always
/// attach the AWS error type to the statuses they send.
fn is_transport_failure(status: &Status) -> bool {
    use tonic::Code;
    !carries_kms_error(status)
        && matches!(
            status.code(),
            Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded
        )
}

/// Shard indices ordered by descending rendezvous score for `key`. Every gateway computes the
/// same order from the same shard list, and adding a shard moves only the keys it now wins.
pub(crate) fn rendezvous_order<'a>(
    shards: impl Iterator<Item = &'a str>,
    key: &[u8],
) -> Vec<usize> {
    let mut scored: Vec<(u64, usize)> = shards
        .enumerate()
        .map(|(i, shard)| (score(shard, key), i))
        .collect();
    scored.sort_unstable_by(|a, b| b.cmp(a));
    scored.into_iter().map(|(_, i)| i).collect()
}

/// FNV-1a over the shard address, a separator and the key, then a SplitMix64 finaliser so
/// that nearby inputs spread over the whole range. Stable across builds and platforms.
fn score(shard: &str, key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in shard.as_bytes().iter().chain(&[0xff]).chain(key) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn owner(shards: &[String], key: &[u8]) -> String {
        let order = rendezvous_order(shards.iter().map(String::as_str), key);
        shards[order[0]].clone()
    }

    #[test]
    fn the_order_covers_every_shard_once() {
        let shards = ["a:1", "b:1", "c:1"];
        let mut order = rendezvous_order(shards.iter().copied(), b"key");
        order.sort_unstable();
        assert_eq!(order, vec![0, 1, 2]);
    }

    #[test]
    fn keys_spread_evenly_over_shards() {
        let shards: Vec<String> = (0..4).map(|i| format!("shard-{i}:50051")).collect();
        let mut counts = [0usize; 4];
        for k in 0..8000u32 {
            let order = rendezvous_order(shards.iter().map(String::as_str), &k.to_be_bytes());
            counts[order[0]] += 1;
        }
        for count in counts {
            assert!((1700..=2300).contains(&count), "{counts:?}");
        }
    }

    proptest! {
        #[test]
        fn a_new_shard_takes_about_one_in_n_keys_all_for_itself(n in 2usize..8, seed in any::<u64>()) {
            let before: Vec<String> = (0..n).map(|i| format!("10.0.{seed}.{i}:50051")).collect();
            let mut after = before.clone();
            after.push(format!("10.1.{seed}.0:50051"));
            let keys = 3000u32;
            let mut moved = 0u32;
            for k in 0..keys {
                let key = k.to_be_bytes();
                let (old, new) = (owner(&before, &key), owner(&after, &key));
                if old != new {
                    prop_assert_eq!(&new, after.last().unwrap());
                    moved += 1;
                }
            }
            let expected = f64::from(keys) / (n as f64 + 1.0);
            prop_assert!((f64::from(moved) - expected).abs() < expected * 0.25, "moved {moved}, expected about {expected}");
        }
    }
}
