//! The server side: a certificate chain and key, optionally a CA that client certificates must
//! chain to, and the handshake of each accepted connection.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::SingleCertAndKey;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::files::{self, Contents};
use crate::reload::Reloading;
use crate::{TlsError, provider};

/// A client must finish its handshake within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes under way at once on a gRPC port; further connections wait to be accepted.
const MAX_HANDSHAKES: usize = 1024;

/// Pause after a failed `accept`, such as when file descriptors run out.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Where a server's certificate and key are, and the CA client certificates must chain to.
#[derive(Clone, Debug)]
pub struct ServerTlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, a client must present a certificate signed by one of these CAs.
    pub client_ca: Option<PathBuf>,
}

/// TLS for a listening port, its certificate kept current from its files.
#[derive(Clone)]
pub struct ServerTls {
    config: Reloading<ServerConfig>,
}

impl ServerTls {
    /// Loads the files, and reads them again every `reload_every`. Needs a tokio runtime.
    pub fn load(files: &ServerTlsFiles, reload_every: Duration) -> Result<Self, TlsError> {
        let mut paths = vec![files.cert.clone(), files.key.clone()];
        paths.extend(files.client_ca.clone());
        let spec = files.clone();
        let config = Reloading::start("server", paths, reload_every, move |contents| {
            server_config(&spec, contents)
        })?;
        Ok(Self { config })
    }

    /// The TLS handshake on an accepted connection, with the newest certificate.
    pub async fn accept(&self, stream: TcpStream) -> io::Result<TlsStream<TcpStream>> {
        let acceptor = TlsAcceptor::from(self.config.current());
        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
    }

    /// Connections accepted on `listener` whose handshake succeeded, for a tonic server. A
    /// failed handshake is logged at DEBUG and its connection closed; accepting stops when the
    /// stream is dropped.
    pub fn incoming(
        self,
        listener: TcpListener,
    ) -> ReceiverStream<Result<TlsConnection, io::Error>> {
        let (connections, incoming) = mpsc::channel(MAX_HANDSHAKES);
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let permit = tokio::select! {
                    () = connections.closed() => return,
                    permit = Arc::clone(&handshakes).acquire_owned() => permit,
                };
                // The semaphore is never closed.
                let Ok(permit) = permit else { return };
                let accepted = tokio::select! {
                    () = connections.closed() => return,
                    accepted = listener.accept() => accepted,
                };
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::warn!(error = %err, "accepting a connection failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                // Without it, a response written in more than one segment waits for the
                // peer's delayed ACK.
                let _ = stream.set_nodelay(true);
                let (tls, connections) = (self.clone(), connections.clone());
                tokio::spawn(async move {
                    match tls.accept(stream).await {
                        Ok(stream) => {
                            let _ = connections.send(Ok(TlsConnection(stream))).await;
                        }
                        Err(err) => tracing::debug!(%peer, error = %err, "TLS handshake failed"),
                    }
                    drop(permit);
                });
            }
        });
        ReceiverStream::new(incoming)
    }
}

/// A configuration from the contents of the cert, key and, if given, client CA files.
fn server_config(files: &ServerTlsFiles, contents: &[Contents]) -> Result<ServerConfig, TlsError> {
    let certified = files::certified_key((&files.cert, &contents[0]), (&files.key, &contents[1]))?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?;
    let builder = match (&files.client_ca, contents.get(2)) {
        (Some(path), Some(pem)) => {
            let roots = files::trust_anchors(path, pem)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider())
                .build()
                .map_err(|source| TlsError::ClientVerifier {
                    path: path.clone(),
                    source,
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A connection whose TLS handshake succeeded, as a tonic server takes it.
pub struct TlsConnection(TlsStream<TcpStream>);

impl Connected for TlsConnection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.0.get_ref().0.connect_info()
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}
