//! SigV4 signing of each gRPC call: a tower service around the channel that buffers the framed
//! request body, signs the request for its method path and body, and sends it on.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http::{HeaderName, HeaderValue, Request, Response, Uri};
use http_body_util::{BodyExt as _, Full};
use tonic::body::Body;
use tonic::transport::Channel;
use tower_service::Service;

const SERVICE: &str = "kms";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An access key to sign with: id, secret and, for temporary credentials, the session token.
/// The secret is never shown by `Debug` and is wiped when the last copy is dropped.
#[derive(Clone)]
pub struct Credentials {
    inner: aws_credential_types::Credentials,
}

impl Credentials {
    /// Credentials from an access key id, its secret access key and, for temporary
    /// credentials, their session token.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        Self {
            inner: aws_credential_types::Credentials::new(
                access_key_id,
                secret_access_key,
                session_token,
                None,
                "keyshard-client",
            ),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.inner.access_key_id())
            .finish_non_exhaustive()
    }
}

/// The channel, wrapped so that every request leaves signed.
#[derive(Clone)]
pub(crate) struct Signing {
    channel: Channel,
    /// Scheme and authority of the endpoint: the signed host.
    origin: Uri,
    region: String,
    credentials: Credentials,
}

impl Signing {
    pub(crate) fn new(
        channel: Channel,
        origin: Uri,
        region: &str,
        credentials: Credentials,
    ) -> Self {
        Self {
            channel,
            origin,
            region: region.to_owned(),
            credentials,
        }
    }

    /// Adds `X-Amz-Date`, `Authorization` and any `X-Amz-Security-Token` to `parts`, signing the
    /// host, the content type, the method path and `body`.
    fn sign(&self, parts: &mut http::request::Parts, body: &[u8]) -> Result<(), BoxError> {
        let identity = self.credentials.inner.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let authority = self.origin.authority().map_or("", |a| a.as_str());
        let scheme = self.origin.scheme_str().unwrap_or("http");
        let url = format!("{scheme}://{authority}{}", parts.uri.path());
        // Only headers that reach the server unchanged are signed; the host is the endpoint's
        // authority, which HTTP/2 sends as `:authority`.
        let headers = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| ("content-type", v));
        let signable =
            SignableRequest::new("POST", url, headers.into_iter(), SignableBody::Bytes(body))?;
        let (instructions, _signature) = sign(signable, &params)?.into_parts();
        for (name, value) in instructions.headers() {
            parts.headers.insert(
                HeaderName::from_bytes(name.as_bytes())?,
                HeaderValue::from_str(value)?,
            );
        }
        Ok(())
    }
}

impl Service<Request<Body>> for Signing {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Service::<Request<Body>>::poll_ready(&mut self.channel, cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The channel that was polled ready sends this request; the clone waits for the next.
        let clone = self.clone();
        let mut this = std::mem::replace(self, clone);
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            this.sign(&mut parts, &body)?;
            let request = Request::from_parts(parts, Body::new(Full::new(body)));
            this.channel.call(request).await.map_err(Into::into)
        })
    }
}
