//! The gRPC hop of the two-hop reference: one unary method, `Seal`, that makes a 32-byte data
//! key and seals it with AES-256-GCM under a key made at start-up, bound to the caller's key id
//! and context. The message types and the service glue are written out here instead of being
//! generated, since nothing outside the bench speaks this API.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use aws_lc_rs::aead::{AES_256_GCM, Aad, RandomizedNonceKey};
use aws_lc_rs::error::Unspecified;
use http::uri::PathAndQuery;
use tonic::codegen::{Body, BoxFuture, StdError};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::transport::Channel;
use tonic_prost::ProstCodec;
use zeroize::Zeroizing;

const SERVICE: &str = "keyshard.bench.v1.Seal";
const SEAL_PATH: &str = "/keyshard.bench.v1.Seal/Seal";

/// What the key is bound to.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct SealRequest {
    #[prost(string, tag = "1")]
    pub(super) key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub(super) context: Vec<u8>,
}

/// A new data key, in plaintext and sealed: nonce, ciphertext and tag.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(super) struct SealResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub(super) ciphertext: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    plaintext: Vec<u8>,
}

impl SealResponse {
    pub(super) fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }
}

impl std::fmt::Debug for SealResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealResponse")
            .field("ciphertext", &self.ciphertext.len())
            .field("plaintext", &"<redacted>")
            .finish()
    }
}

impl Drop for SealResponse {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.plaintext);
    }
}

/// The `Seal` service.
#[derive(Clone)]
pub(super) struct SealServer {
    key: Arc<RandomizedNonceKey>,
}

impl SealServer {
    /// A server with a fresh random AES-256 key.
    pub(super) fn new() -> Result<Self, Unspecified> {
        let mut key = Zeroizing::new([0_u8; 32]);
        aws_lc_rs::rand::fill(key.as_mut())?;
        let key = RandomizedNonceKey::new(&AES_256_GCM, key.as_ref())?;
        Ok(Self { key: Arc::new(key) })
    }

    fn seal(&self, request: &SealRequest) -> Result<SealResponse, Unspecified> {
        let mut plaintext = vec![0_u8; 32];
        aws_lc_rs::rand::fill(&mut plaintext)?;
        let mut sealed = plaintext.clone();
        let mut bound = request.key_id.as_bytes().to_vec();
        bound.extend_from_slice(&request.context);
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(bound), &mut sealed)?;
        let mut ciphertext = nonce.as_ref().to_vec();
        ciphertext.append(&mut sealed);
        Ok(SealResponse {
            ciphertext,
            plaintext,
        })
    }
}

impl NamedService for SealServer {
    const NAME: &'static str = SERVICE;
}

impl<B> tower_service::Service<http::Request<B>> for SealServer
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != SEAL_PATH {
            let status = tonic::Status::unimplemented("the bench's Seal service has one method");
            return Box::pin(ready(Ok(status.into_http())));
        }
        let method = SealMethod(self.clone());
        Box::pin(async move {
            let mut grpc = Grpc::new(ProstCodec::default());
            Ok(grpc.unary(method, request).await)
        })
    }
}

/// The unary method's handler.
struct SealMethod(SealServer);

impl UnaryService<SealRequest> for SealMethod {
    type Response = SealResponse;
    type Future = Ready<Result<tonic::Response<SealResponse>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<SealRequest>) -> Self::Future {
        let sealed = self
            .0
            .seal(request.get_ref())
            .map(tonic::Response::new)
            .map_err(|_| tonic::Status::internal("sealing failed"));
        ready(sealed)
    }
}

/// A client of the `Seal` service over one channel; cheap to clone.
#[derive(Clone)]
pub(super) struct SealClient {
    grpc: tonic::client::Grpc<Channel>,
}

impl SealClient {
    pub(super) fn new(channel: Channel) -> Self {
        Self {
            grpc: tonic::client::Grpc::new(channel),
        }
    }

    pub(super) async fn seal(
        &mut self,
        key_id: String,
        context: Vec<u8>,
    ) -> Result<SealResponse, tonic::Status> {
        self.grpc
            .ready()
            .await
            .map_err(|err| tonic::Status::unavailable(err.to_string()))?;
        let request = tonic::Request::new(SealRequest { key_id, context });
        let response = self
            .grpc
            .unary(
                request,
                PathAndQuery::from_static(SEAL_PATH),
                ProstCodec::default(),
            )
            .await?;
        Ok(response.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::aead::{LessSafeKey, Nonce, UnboundKey};

    use super::*;

    #[test]
    fn a_sealed_key_is_nonce_ciphertext_and_tag_bound_to_key_id_and_context() {
        let mut key = [0_u8; 32];
        aws_lc_rs::rand::fill(&mut key).unwrap();
        let server = SealServer {
            key: Arc::new(RandomizedNonceKey::new(&AES_256_GCM, &key).unwrap()),
        };
        let request = SealRequest {
            key_id: "k".to_owned(),
            context: b"{\"a\":\"b\"}".to_vec(),
        };
        let sealed = server.seal(&request).unwrap();
        assert_eq!(sealed.plaintext().len(), 32);
        assert_eq!(sealed.ciphertext.len(), 12 + 32 + 16);

        let opener = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
        let (nonce, body) = sealed.ciphertext.split_at(12);
        let open = |aad: &[u8]| {
            let mut in_out = body.to_vec();
            let nonce = Nonce::try_assume_unique_for_key(nonce).unwrap();
            opener
                .open_in_place(nonce, Aad::from(aad), &mut in_out)
                .map(|plain| plain.to_vec())
        };
        assert_eq!(open(b"k{\"a\":\"b\"}").unwrap(), sealed.plaintext());
        assert_eq!(open(b"k{\"a\":\"c\"}"), Err(Unspecified));
    }
}
