//! The client side: the CA a server's certificate must chain to, optionally a client
//! certificate, and a connector for tonic channels that makes a TLS connection per call of
//! `connect`.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use rustls::sign::SingleCertAndKey;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::files::{self, Contents};
use crate::reload::Reloading;
use crate::{TlsError, provider};

/// Where the trusted CA, the client's own certificate and key are, and the name to check
/// servers' certificates against.
#[derive(Clone, Debug)]
pub struct ClientTlsFiles {
    /// The CA bundle a server's certificate must chain to.
    pub ca: PathBuf,
    /// The client certificate chain and its key, for servers that require one.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// The name every server's certificate must carry; by default the host being connected
    /// to, a DNS name or an IP address.
    pub server_name: Option<String>,
}

/// A tonic connector that speaks TLS, its CA and client certificate kept current from their
/// files.
#[derive(Clone)]
pub struct ClientTls {
    config: Reloading<ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

type Connecting = Pin<Box<dyn Future<Output = io::Result<TokioIo<TlsStream<TcpStream>>>> + Send>>;

impl ClientTls {
    /// Loads the files, and reads them again every `reload_every`. Needs a tokio runtime.
    pub fn load(files: &ClientTlsFiles, reload_every: Duration) -> Result<Self, TlsError> {
        let server_name = files
            .server_name
            .as_ref()
            .map(|name| {
                ServerName::try_from(name.clone()).map_err(|_| TlsError::ServerName(name.clone()))
            })
            .transpose()?;
        let mut paths = vec![files.ca.clone()];
        if let Some((cert, key)) = &files.identity {
            paths.extend([cert.clone(), key.clone()]);
        }
        let spec = files.clone();
        let config = Reloading::start("client", paths, reload_every, move |contents| {
            client_config(&spec, contents)
        })?;
        Ok(Self {
            config,
            server_name,
        })
    }
}

/// A configuration from the contents of the CA and, if given, client cert and key files.
fn client_config(files: &ClientTlsFiles, contents: &[Contents]) -> Result<ClientConfig, TlsError> {
    let roots = files::trust_anchors(&files.ca, &contents[0])?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_root_certificates(roots);
    let mut config = match (&files.identity, contents.get(1..3)) {
        (Some((cert, key)), Some([cert_pem, key_pem])) => {
            let certified = files::certified_key((cert, cert_pem), (key, key_pem))?;
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified)))
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

impl tower_service::Service<Uri> for ClientTls {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let config = self.config.current();
        let configured_name = self.server_name.clone();
        Box::pin(async move {
            let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
            let host = uri
                .host()
                .ok_or_else(|| invalid("the address has no host"))?;
            // An IPv6 host comes in brackets.
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri
                .port_u16()
                .ok_or_else(|| invalid("the address has no port"))?;
            let name = match configured_name {
                Some(name) => name,
                None => ServerName::try_from(host.clone())
                    .map_err(|_| invalid("the host is not a valid TLS server name"))?,
            };
            let stream = TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            let stream = TlsConnector::from(config).connect(name, stream).await?;
            Ok(TokioIo::new(stream))
        })
    }
}
