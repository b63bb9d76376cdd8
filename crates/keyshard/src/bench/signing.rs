//! The credentials the benchmark signs with, and SigV4 signing of each request, so that every
//! case and reference costs the load generator the same.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;

/// Region and service every request is signed for: the front ends serve `us-east-1` by default.
pub(crate) const REGION: &str = "us-east-1";
const SERVICE: &str = "kms";

/// The access key every request of a run is signed with, issued by `keyshard accounts` for the
/// run. The secret is wiped on drop and never shown by `Debug`.
pub(crate) struct BenchCredentials {
    credentials: Credentials,
}

impl BenchCredentials {
    pub(crate) fn new(access_key_id: String, secret_access_key: String) -> Self {
        Self {
            credentials: Credentials::new(
                access_key_id,
                secret_access_key,
                None,
                None,
                "keyshard-bench",
            ),
        }
    }

    /// The same access key for `keyshard-client`, which signs gRPC calls.
    pub(crate) fn client_credentials(&self) -> keyshard_client::Credentials {
        keyshard_client::Credentials::new(
            self.credentials.access_key_id(),
            self.credentials.secret_access_key(),
            None,
        )
    }

    /// A signer for requests to any of the bench's servers.
    pub(crate) fn signer(&self) -> Signer {
        Signer {
            credentials: self.credentials.clone(),
        }
    }
}

/// Signs requests with one access key; cheap to clone, one per load worker.
#[derive(Clone)]
pub(crate) struct Signer {
    credentials: Credentials,
}

/// A request that could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign a request: {0}")]
pub(crate) struct SignError(String);

impl Signer {
    /// Adds `X-Amz-Date` and a SigV4 `Authorization` header covering every header already on
    /// `request` and its body, signed for the current time.
    pub(crate) fn sign(
        &self,
        request: &mut Request<Full<Bytes>>,
        body: &[u8],
    ) -> Result<(), SignError> {
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|err| SignError(err.to_string()))?
            .into();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let uri = request.uri().to_string();
        let signable = SignableRequest::new(
            request.method().as_str(),
            uri,
            headers,
            SignableBody::Bytes(body),
        )
        .map_err(|err| SignError(err.to_string()))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|err| SignError(err.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}
