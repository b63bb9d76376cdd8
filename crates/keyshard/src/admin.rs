//! The admin endpoint of a serving process: `/metrics` in the Prometheus text format,
//! `/healthz` and `/readyz` for Kubernetes probes.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use keyshard_gateway::Gateway;
use tokio::net::TcpListener;

use crate::net::{self, ListenError};

/// Renders the current metrics as Prometheus text.
pub(crate) type MetricsFn = Arc<dyn Fn() -> String + Send + Sync>;

/// Answers whether the process should get requests now.
pub(crate) type ReadyFn = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// The readiness of a gateway: not shutting down, and a shard answers that it is ready.
pub(crate) fn gateway_ready(gateway: &Arc<Gateway>) -> ReadyFn {
    let gateway = Arc::clone(gateway);
    Arc::new(move || {
        let gateway = Arc::clone(&gateway);
        Box::pin(async move { gateway.ready().await })
    })
}

/// Serves the admin endpoint on `address`, if one is given, for the life of the process:
/// `/metrics`, `/healthz` (the process answers) and `/readyz` (`ready` says yes: 200, else
/// 503).
pub(crate) async fn serve(
    address: Option<SocketAddr>,
    metrics: MetricsFn,
    ready: ReadyFn,
) -> Result<(), ListenError> {
    let Some(address) = address else {
        return Ok(());
    };
    let listener = net::bind(&address.to_string()).await?;
    let listen = net::local_address(&listener)?;
    spawn(listener, metrics, ready);
    tracing::info!(%listen, "metrics endpoint ready");
    Ok(())
}

/// The metrics of `parts`, one after the other.
pub(crate) fn combine(parts: Vec<MetricsFn>) -> MetricsFn {
    Arc::new(move || parts.iter().map(|part| part()).collect())
}

/// A gateway's request metrics.
pub(crate) fn gateway_metrics(gateway: &Arc<Gateway>) -> MetricsFn {
    let gateway = Arc::clone(gateway);
    Arc::new(move || gateway.metrics())
}

fn spawn(listener: TcpListener, metrics: MetricsFn, ready: ReadyFn) {
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "admin endpoint: accepting a connection failed");
                    continue;
                }
            };
            let (metrics, ready) = (Arc::clone(&metrics), Arc::clone(&ready));
            tokio::spawn(async move {
                let service =
                    service_fn(move |req| answer(Arc::clone(&metrics), Arc::clone(&ready), req));
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

async fn answer(
    metrics: MetricsFn,
    ready: ReadyFn,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
        "/metrics" => (StatusCode::OK, metrics()),
        "/healthz" => (StatusCode::OK, "ok\n".to_owned()),
        "/readyz" if ready().await => (StatusCode::OK, "ok\n".to_owned()),
        "/readyz" => (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_owned()),
        _ => (StatusCode::NOT_FOUND, "not found\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    Ok(response)
}

/// One counter in the Prometheus text format.
pub(crate) fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    use std::fmt::Write as _;
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
    );
}
