//! The public gRPC API, `keyshard.kms.v1.KeyManagement`: the same operations, validation,
//! authentication, quotas and shard calls as the JSON 1.1 front end, reached through protobuf
//! messages instead of JSON bodies.
//!
//! Every call is SigV4-signed as an HTTP/2 `POST` to its method path with the gRPC-framed
//! request as payload; [`authenticate`] verifies it with the JSON front end's verifier before
//! the service sees the request.
//!
//! The same port serves `grpc.health.v1.Health` and gRPC server reflection (v1 and v1alpha) unsigned, so
//! that probes and grpcurl work without credentials; neither reveals anything about keys.

mod authenticate;
mod batch;
mod convert;
mod service;

use std::future::Future;
use std::sync::Arc;

use keyshard_proto::kms::key_management_server::KeyManagementServer;
use keyshard_tls::ServerTls;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use crate::{Gateway, connection};

/// The largest request message the public API decodes: the authentication layer refuses larger
/// bodies before this applies.
const MAX_MESSAGE_BYTES: usize = crate::protocol::MAX_BODY_BYTES;

/// Why the public gRPC API stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum GrpcServeError {
    #[error("the reflection service cannot read the public API's descriptors")]
    Reflection(#[source] tonic_reflection::server::Error),

    #[error("the public gRPC API failed")]
    Transport(#[source] tonic::transport::Error),
}

/// Serves the public gRPC API on `listener`, over TLS when `tls` is given, until `shutdown`
/// completes.
pub async fn serve_grpc(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    tls: Option<ServerTls>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), GrpcServeError> {
    let api = KeyManagementServer::new(service::PublicApi::new(Arc::clone(&gateway)))
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
    // Both reflection versions: grpcurl and grpcui before 2024 ask for v1alpha only.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(keyshard_proto::KMS_FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .map_err(GrpcServeError::Reflection)?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(GrpcServeError::Reflection)?;
    let (health, health_service) = tonic_health::server::health_reporter();
    // The API serves as long as the server runs; a shard outage shows in each call's status.
    health
        .set_serving::<KeyManagementServer<service::PublicApi>>()
        .await;

    let router = tonic::transport::Server::builder()
        .layer(authenticate::AuthenticateLayer::new(gateway))
        .add_service(api)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    let served = match tls {
        Some(tls) => {
            router
                .serve_with_incoming_shutdown(connection::limit(tls.incoming(listener)), shutdown)
                .await
        }
        None => {
            router
                .serve_with_incoming_shutdown(
                    // Without it, an answer written in more than one segment waits for the
                    // client's delayed ACK.
                    connection::limit(TcpIncoming::from(listener).with_nodelay(Some(true))),
                    shutdown,
                )
                .await
        }
    };
    served.map_err(GrpcServeError::Transport)
}
