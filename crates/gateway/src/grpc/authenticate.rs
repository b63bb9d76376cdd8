//! The tower layer in front of the public API: it reads the request body under the JSON front
//! end's size cap, verifies the SigV4 signature over it, counts the call against the account's
//! quota, hands the caller's [`Identity`] to the service in the request's extensions, and writes
//! the access line and metrics of the call.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use keyshard_core::KmsError;
use keyshard_core::operation::Operation;
use keyshard_proto::{ERROR_TYPE_METADATA, public_status};
use tonic::body::Body;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument as _;

use crate::{Gateway, protocol};

/// The path prefix of the public API's methods.
const SERVICE_PATH: &str = "/keyshard.kms.v1.KeyManagement/";

/// Adds [`Authenticate`] in front of a gRPC router.
#[derive(Clone)]
pub(super) struct AuthenticateLayer {
    gateway: Arc<Gateway>,
}

impl AuthenticateLayer {
    pub(super) fn new(gateway: Arc<Gateway>) -> Self {
        Self { gateway }
    }
}

impl<S> Layer<S> for AuthenticateLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticate {
            gateway: Arc::clone(&self.gateway),
            inner,
        }
    }
}

/// Authenticates each call before `S` sees it; see the module documentation.
#[derive(Clone)]
pub(super) struct Authenticate<S> {
    gateway: Arc<Gateway>,
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<Request<Body>> for Authenticate<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The clone that was polled ready serves this call; the fresh one waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // Health checks and reflection are open to anyone, as probes and grpcurl expect.
        if !req.uri().path().starts_with(SERVICE_PATH) {
            return Box::pin(inner.call(req));
        }
        Box::pin(handle(Arc::clone(&self.gateway), inner, req))
    }
}

async fn handle<S>(
    gateway: Arc<Gateway>,
    mut inner: S,
    req: Request<Body>,
) -> Result<Response<Body>, Infallible>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let request_id = uuid::Uuid::new_v4();
    let started = tokio::time::Instant::now();
    let operation = method_name(req.uri().path().strip_prefix(SERVICE_PATH).unwrap_or(""));
    let span = tracing::info_span!(
        target: "keyshard::access",
        "request",
        %request_id,
        protocol = "grpc",
        operation,
        account = tracing::field::Empty,
        key_id = tracing::field::Empty,
    );

    let admitted = async {
        let (parts, body) = req.into_parts();
        let pending = gateway.auth.begin(&parts)?;
        let body = protocol::read_body(body).await?;
        let identity = gateway
            .auth
            .finish(pending, &parts, &body, &gateway.shards)
            .await?;
        tracing::Span::current().record("account", identity.account.as_str());
        if let (Some(quotas), Some(op)) = (&gateway.quotas, Operation::parse(operation)) {
            quotas.admit(&identity.account, op, &identity.quotas)?;
        }
        let mut req = Request::from_parts(parts, Body::new(Full::new(body)));
        req.extensions_mut().insert(identity);
        Ok::<_, KmsError>(req)
    }
    .instrument(span.clone())
    .await;

    let mut response = match admitted {
        Ok(req) => match inner.call(req).instrument(span.clone()).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        Err(err) => public_status(&err).into_http(),
    };
    if let Some(err) = tonic_refusal(&response) {
        response = public_status(&err).into_http();
    }
    if let Ok(id) = HeaderValue::from_str(&request_id.to_string()) {
        response.headers_mut().insert("x-amzn-requestid", id);
    }

    let elapsed = started.elapsed();
    let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    let outcome = outcome(&response);
    gateway.metrics.record(operation, outcome, elapsed);
    let grpc_status = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("0");
    span.in_scope(|| {
        // A fault of the service is logged where it happened; the access line only flags it.
        if KmsError::from_wire(outcome, None).is_client_error() || outcome == "ok" {
            tracing::info!(target: "keyshard::access", grpc_status, outcome, latency_us, "request");
        } else {
            tracing::warn!(target: "keyshard::access", grpc_status, outcome, latency_us, "request failed");
        }
    });
    Ok(response)
}

/// The operation name a method path's last segment stands for, as a metric label: one of the
/// public API's methods, or `unknown`.
fn method_name(method: &str) -> &'static str {
    if let Some(op) = Operation::parse(method) {
        return op.as_str();
    }
    super::batch::METHODS
        .iter()
        .find(|name| **name == method)
        .copied()
        .unwrap_or("unknown")
}

/// The AWS error of a call tonic itself refused before the service saw it (an unknown method,
/// or a message that does not decode), whose status carries no AWS error type; tonic answers the
/// latter with `INTERNAL`, which would read as a fault of the server.
fn tonic_refusal(response: &Response<Body>) -> Option<KmsError> {
    let headers = response.headers();
    if headers.contains_key(ERROR_TYPE_METADATA) {
        return None;
    }
    match headers.get("grpc-status").map(HeaderValue::as_bytes) {
        None | Some(b"0") => None,
        Some(b"12") => Some(KmsError::UnknownOperation),
        Some(_) => Some(KmsError::Serialization),
    }
}

/// `ok`, or the AWS error type of a call that failed before its answer started (a call whose
/// failure reaches only the trailers counts as `ok` here, which only streamed answers can do).
fn outcome(response: &Response<Body>) -> &'static str {
    response
        .headers()
        .get(ERROR_TYPE_METADATA)
        .and_then(|v| v.to_str().ok())
        .map_or("ok", |error_type| {
            KmsError::from_wire(error_type, None).wire().error_type
        })
}

#[cfg(test)]
mod tests {
    use tonic::{Code, Status};

    use super::*;

    #[test]
    fn tonic_s_own_refusals_get_an_aws_type_and_the_services_answers_keep_theirs() {
        let undecodable = Status::internal("failed to decode Protobuf message").into_http();
        assert_eq!(tonic_refusal(&undecodable), Some(KmsError::Serialization));
        let unknown_method = Status::unimplemented("").into_http();
        assert_eq!(
            tonic_refusal(&unknown_method),
            Some(KmsError::UnknownOperation)
        );

        let answered = public_status(&KmsError::Internal("x".to_owned())).into_http();
        assert_eq!(tonic_refusal(&answered), None);
        assert_eq!(outcome(&answered), "KMSInternalException");
        let ok = Response::new(Body::empty());
        assert_eq!((tonic_refusal(&ok), outcome(&ok)), (None, "ok"));

        let refused = public_status(&KmsError::Serialization);
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert_eq!(outcome(&refused.into_http()), "SerializationException");
    }
}
