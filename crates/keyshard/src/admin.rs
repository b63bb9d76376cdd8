//! The admin endpoint of a serving process: `/metrics` in the Prometheus text format,
//! `/healthz` and `/readyz` for Kubernetes probes.

use std::convert::Infallible;
use std::net::SocketAddr;
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

/// Serves the admin endpoint on `address`, if one is given, for the life of the process.
pub(crate) async fn serve(
    address: Option<SocketAddr>,
    metrics: MetricsFn,
) -> Result<(), ListenError> {
    let Some(address) = address else {
        return Ok(());
    };
    let listener = net::bind(&address.to_string()).await?;
    let listen = net::local_address(&listener)?;
    spawn(listener, metrics);
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

fn spawn(listener: TcpListener, metrics: MetricsFn) {
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "admin endpoint: accepting a connection failed");
                    continue;
                }
            };
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                let service = service_fn(move |req| answer(Arc::clone(&metrics), req));
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

async fn answer(
    metrics: MetricsFn,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
        "/metrics" => (StatusCode::OK, metrics()),
        "/healthz" | "/readyz" => (StatusCode::OK, "ok\n".to_owned()),
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
