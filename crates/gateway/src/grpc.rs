//! The public gRPC API, `keyshard.kms.v1.KeyManagement`: the same operations, validation,
//! authentication, quotas and shard calls as the JSON 1.1 front end, reached through protobuf
//! messages instead of JSON bodies.
//!
//! Every call is SigV4-signed as an HTTP/2 `POST` to its method path with the gRPC-framed
//! request as payload; [`authenticate`] verifies it with the JSON front end's verifier before
//! the service sees the request.

mod authenticate;
mod batch;
mod convert;
mod service;

use std::future::Future;
use std::sync::Arc;

use keyshard_proto::kms::key_management_server::KeyManagementServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::Gateway;

/// The largest request message the public API decodes: the authentication layer refuses larger
/// bodies before this applies.
const MAX_MESSAGE_BYTES: usize = crate::protocol::MAX_BODY_BYTES;

/// Serves the public gRPC API on `listener` until `shutdown` completes.
pub async fn serve_grpc(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let api = KeyManagementServer::new(service::PublicApi::new(Arc::clone(&gateway)))
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
    tonic::transport::Server::builder()
        .layer(authenticate::AuthenticateLayer::new(gateway))
        .add_service(api)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
}
