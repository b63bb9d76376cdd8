//! The reference servers `keyshard bench` compares Keyshard with, run as `keyshard bench-server`
//! child processes: the same HTTP stack answering a fixed JSON body (the HTTP ceiling), and the
//! same architecture with none of Keyshard's logic, HTTP/1.1 JSON in front of a gRPC server that
//! seals a new data key with AES-256-GCM (the two-hop ceiling).

mod seal;

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tonic::transport::Endpoint;
use tonic::transport::server::TcpIncoming;

use crate::config::{BenchServerArgs, BenchServerRole};
use crate::net::{self, ListenError};
use seal::{SealClient, SealServer};

const JSON_1_1: &str = "application/x-amz-json-1.1";

/// Pause after a failed `accept`, such as when file descriptors run out.
const ACCEPT_PAUSE: Duration = Duration::from_millis(10);

/// Why a reference server stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReferenceError {
    #[error(transparent)]
    Listen(#[from] ListenError),

    #[error("`two-hop` needs --backend")]
    NoBackend,

    #[error("the gRPC server failed")]
    Serve(#[from] tonic::transport::Error),

    #[error("cannot create the AES-256-GCM key")]
    Key,
}

/// Runs the reference server `args` names until the process is killed.
pub(crate) async fn serve(args: BenchServerArgs) -> Result<(), ReferenceError> {
    let listener = net::bind(&args.listen.to_string()).await?;
    let listen = net::local_address(&listener)?;
    match args.role {
        BenchServerRole::FixedJson => {
            tracing::info!(%listen, "fixed-json bench server ready to serve");
            let body = Bytes::from(fixed_response_body());
            serve_http(listener, move |_request| {
                let body = body.clone();
                async move { json_response(StatusCode::OK, body) }
            })
            .await;
        }
        BenchServerRole::Seal => {
            let server = SealServer::new().map_err(|_| ReferenceError::Key)?;
            tracing::info!(%listen, "seal bench server ready to serve");
            tonic::transport::Server::builder()
                .add_service(server)
                .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true)))
                .await?;
        }
        BenchServerRole::TwoHop => {
            let backend = args.backend.ok_or(ReferenceError::NoBackend)?;
            let channel = Endpoint::from_shared(format!("http://{backend}"))?.connect_lazy();
            let client = SealClient::new(channel);
            tracing::info!(%listen, %backend, "two-hop bench server ready to serve");
            serve_http(listener, move |request| {
                let client = client.clone();
                async move { two_hop(client, &request).await }
            })
            .await;
        }
    }
    Ok(())
}

/// A GenerateDataKey-shaped answer of the size Keyshard's has: a key ARN, a 32-byte plaintext
/// and a ciphertext blob of about Keyshard's length.
fn fixed_response_body() -> String {
    serde_json::json!({
        "CiphertextBlob": STANDARD.encode([0x5a_u8; 128]),
        "KeyId": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "Plaintext": STANDARD.encode([0xa5_u8; 32]),
    })
    .to_string()
}

/// Reads the JSON body's `KeyId` and `EncryptionContext`, has the gRPC server seal a new data
/// key bound to them, and answers with both halves, as GenerateDataKey does.
async fn two_hop(mut client: SealClient, request: &[u8]) -> Response<Full<Bytes>> {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(request) else {
        return error_response(StatusCode::BAD_REQUEST, "SerializationException");
    };
    let key_id = json
        .get("KeyId")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let context = json
        .get("EncryptionContext")
        .map(serde_json::Value::to_string)
        .unwrap_or_default()
        .into_bytes();
    let sealed = match client.seal(key_id.clone(), context).await {
        Ok(sealed) => sealed,
        Err(status) => {
            tracing::warn!(error = %status, "seal call failed");
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, "KMSInternalException");
        }
    };
    let body = serde_json::json!({
        "CiphertextBlob": STANDARD.encode(&sealed.ciphertext),
        "KeyId": key_id,
        "Plaintext": STANDARD.encode(sealed.plaintext()),
    });
    json_response(StatusCode::OK, Bytes::from(body.to_string()))
}

fn error_response(status: StatusCode, error_type: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "__type": error_type }).to_string();
    json_response(status, Bytes::from(body))
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON_1_1));
    response
}

/// Serves HTTP/1.1 on `listener` with hyper's connection builder, as the gateway does, handing
/// each request's whole body to `handler`.
async fn serve_http<H, F>(listener: TcpListener, handler: H)
where
    H: Fn(Bytes) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                tracing::warn!(error = %err, "accepting a connection failed");
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let handler = handler.clone();
                async move {
                    let body = match request.into_body().collect().await {
                        Ok(collected) => collected.to_bytes(),
                        Err(_) => Bytes::new(),
                    };
                    Ok::<_, Infallible>(handler(body).await)
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_body_has_the_fields_of_a_generate_data_key_answer() {
        let body: serde_json::Value = serde_json::from_str(&fixed_response_body()).unwrap();
        let decoded = |field: &str| {
            STANDARD
                .decode(body[field].as_str().unwrap())
                .unwrap()
                .len()
        };
        assert_eq!(decoded("Plaintext"), 32);
        assert_eq!(decoded("CiphertextBlob"), 128);
        assert_eq!(
            body["KeyId"],
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        );
    }
}
