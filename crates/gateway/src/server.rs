//! The HTTP server: one hyper connection task per client, one access-log line per request.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use keyshard_core::KmsError;
use keyshard_core::id::Scope;
use keyshard_tls::ServerTls;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::Instrument as _;

use crate::connection::{Guarded, MAX_CONNECTIONS};
use crate::ops::Call;
use crate::{Gateway, ops, protocol};

const JSON_1_1: &str = "application/x-amz-json-1.1";

/// A client must send a request's headers within this time, and an idle keep-alive connection
/// is closed after it.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// First and longest pause after a failed `accept`, such as when file descriptors run out.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// Serves JSON 1.1 on `listener`, over TLS when `tls` is given, until `shutdown` completes,
/// then drains: the gateway reports itself not ready, stops accepting connections, lets each
/// open connection finish the request it is serving and closes it, and returns once all are
/// closed or `grace` has passed.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    tls: Option<ServerTls>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let connections = GracefulShutdown::new();
    accept(&listener, &gateway, tls.as_ref(), shutdown, &connections).await;
    gateway.draining.store(true, Ordering::Relaxed);
    drop(listener);
    tracing::info!(grace_seconds = grace.as_secs(), "draining open connections");
    if tokio::time::timeout(grace, connections.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_seconds = grace.as_secs(),
            "connections still open after the shutdown grace period are cut"
        );
    }
}

/// Accepts connections until `shutdown` completes, each watched by `connections`. A TLS
/// handshake happens on the connection's own task, bounded by the connection limit.
async fn accept(
    listener: &TcpListener,
    gateway: &Arc<Gateway>,
    tls: Option<&ServerTls>,
    shutdown: impl Future<Output = ()>,
    connections: &GracefulShutdown,
) {
    tokio::pin!(shutdown);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = ACCEPT_BACKOFF.0;
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => return,
            permit = Arc::clone(&permits).acquire_owned() => permit,
        };
        // The semaphore is never closed.
        let Ok(permit) = permit else { return };
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = ACCEPT_BACKOFF.0;
                accepted
            }
            Err(err) => {
                // Errors such as EMFILE repeat until something changes: pause, doubling the
                // pause up to a second, so the loop neither spins nor floods the log.
                tracing::warn!(error = %err, retry_in = ?backoff, "accepting a connection failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                continue;
            }
        };
        // Without it, an answer written in more than one segment waits for the client's
        // delayed ACK.
        let _ = stream.set_nodelay(true);
        let (gateway, tls, watcher) = (Arc::clone(gateway), tls.cloned(), connections.watcher());
        tokio::spawn(async move {
            match tls {
                None => {
                    serve_connection(Guarded::new(stream, permit), gateway, watcher, peer).await
                }
                Some(tls) => match tls.accept(stream).await {
                    Ok(stream) => {
                        serve_connection(Guarded::new(stream, permit), gateway, watcher, peer)
                            .await;
                    }
                    Err(err) => tracing::debug!(%peer, error = %err, "TLS handshake failed"),
                },
            }
        });
    }
}

/// Serves HTTP/1.1 or HTTP/2 on one accepted connection until it closes, or until shutdown
/// begins and its request in flight is answered.
async fn serve_connection<I>(
    io: Guarded<I>,
    gateway: Arc<Gateway>,
    watcher: Watcher,
    peer: SocketAddr,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(Arc::clone(&gateway), req));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .into_owned();
    if let Err(err) = watcher.watch(connection).await {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}

async fn handle(
    gateway: Arc<Gateway>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let request_id = uuid::Uuid::new_v4();
    let started = tokio::time::Instant::now();
    let span = tracing::info_span!(
        target: "keyshard::access",
        "request",
        %request_id,
        operation = tracing::field::Empty,
        account = tracing::field::Empty,
        key_id = tracing::field::Empty,
    );

    let mut operation = "unknown";
    let result = async {
        let (parts, body) = req.into_parts();
        let pending = gateway.auth.begin(&parts)?;
        let body = protocol::read_body(body).await?;
        let identity = gateway
            .auth
            .finish(pending, &parts, &body, &gateway.shards)
            .await?;
        tracing::Span::current().record("account", identity.account.as_str());
        let op = protocol::operation(&parts.method, parts.uri.path(), &parts.headers)?;
        operation = op.as_str();
        tracing::Span::current().record("operation", operation);
        if let Some(quotas) = &gateway.quotas {
            quotas.admit(&identity.account, op, &identity.quotas)?;
        }
        let call = Call {
            scope: Scope {
                account: identity.account,
                region: gateway.region.clone(),
            },
            principal: &identity.principal,
            shards: &gateway.shards,
        };
        ops::dispatch(&call, op, &body).await
    }
    .instrument(span.clone())
    .await;

    let response = match result {
        Ok(body) => respond(StatusCode::OK, request_id, body),
        Err(err) => error_response(&err, request_id),
    };
    let elapsed = started.elapsed();
    let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    let outcome = response.extensions().get::<Outcome>().map_or("ok", |o| o.0);
    gateway.metrics.record(operation, outcome, elapsed);
    span.in_scope(|| {
        let status = response.status().as_u16();
        // A 5xx's cause is logged where it happened; the access line only flags it.
        if status >= 500 {
            tracing::warn!(target: "keyshard::access", status, outcome, latency_us, "request failed");
        } else {
            tracing::info!(target: "keyshard::access", status, outcome, latency_us, "request");
        }
    });
    Ok(response)
}

/// The error type of an answered request, kept for the access line.
#[derive(Clone, Copy)]
struct Outcome(&'static str);

fn error_response(err: &KmsError, request_id: uuid::Uuid) -> Response<Full<Bytes>> {
    let wire = err.wire();
    let mut body = serde_json::Map::new();
    body.insert("__type".to_owned(), wire.error_type.into());
    if let Some(message) = wire.message {
        body.insert("message".to_owned(), message.into());
    }
    let bytes = serde_json::Value::Object(body).to_string().into_bytes();
    let status = StatusCode::from_u16(wire.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = respond(status, request_id, bytes);
    response.extensions_mut().insert(Outcome(wire.error_type));
    response
}

fn respond(status: StatusCode, request_id: uuid::Uuid, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_1_1));
    if let Ok(id) = HeaderValue::from_str(&request_id.to_string()) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}
