//! `keyshard kms-plugin`: the Kubernetes KMS v2 plugin. It runs next to kube-apiserver, serves
//! `v2.KeyManagementService` on a Unix socket, and forwards each call to Keyshard's public gRPC
//! API with its own credentials and one key.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use keyshard_client::kms_plugin::KmsPlugin;
use keyshard_client::{Client, Credentials};
use keyshard_tls::{ClientTls, ClientTlsFiles};
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Endpoint;

use crate::config::KmsPluginArgs;
use crate::net;

/// Why `keyshard kms-plugin` could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KmsPluginError {
    #[error("{0} is not set: the plugin signs with the access key it names")]
    MissingCredential(&'static str),

    #[error("cannot reach Keyshard at {endpoint}")]
    Connect {
        endpoint: String,
        #[source]
        source: keyshard_client::Error,
    },

    #[error("cannot reach Keyshard at {endpoint} over TLS")]
    ConnectTls {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },

    #[error(transparent)]
    Tls(#[from] keyshard_tls::TlsError),

    #[error("cannot listen on the socket {}", path.display())]
    Socket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the plugin's gRPC server failed")]
    Serve(#[source] tonic::transport::Error),
}

pub(crate) async fn run(args: KmsPluginArgs) -> Result<(), KmsPluginError> {
    let credentials = credentials_from_env()?;
    let client = match &args.endpoint_ca_file {
        Some(ca) => connect_tls(&args, ca, credentials).await?,
        None => Client::connect(&args.endpoint, &args.region, credentials)
            .await
            .map_err(|source| KmsPluginError::Connect {
                endpoint: args.endpoint.clone(),
                source,
            })?,
    };
    let listener = bind(&args.socket)?;

    tracing::info!(socket = %args.socket.display(), endpoint = %args.endpoint, key_id = %args.key_id, "keyshard kms plugin ready to serve");
    let served = tonic::transport::Server::builder()
        .add_service(KmsPlugin::new(client, args.key_id).into_server())
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), net::shutdown_signal())
        .await;
    // The socket file is this process's; the next start would replace it anyway.
    std::fs::remove_file(&args.socket).ok();
    served.map_err(KmsPluginError::Serve)?;
    tracing::info!("keyshard kms plugin stopped");
    Ok(())
}

/// A client of the gateway at `args.endpoint` over TLS, trusting the CAs in `ca`.
async fn connect_tls(
    args: &KmsPluginArgs,
    ca: &Path,
    credentials: Credentials,
) -> Result<Client, KmsPluginError> {
    let files = ClientTlsFiles {
        ca: ca.to_owned(),
        identity: None,
        server_name: None,
    };
    let tls = ClientTls::load(&files, args.tls_reload.interval())?;
    let failed = |source| KmsPluginError::ConnectTls {
        endpoint: args.endpoint.clone(),
        source,
    };
    let endpoint = Endpoint::from_shared(args.endpoint.clone()).map_err(failed)?;
    let channel = endpoint.connect_with_connector(tls).await.map_err(failed)?;
    Ok(Client::with_channel(
        channel,
        endpoint.uri().clone(),
        &args.region,
        credentials,
    ))
}

/// The access key in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
fn credentials_from_env() -> Result<Credentials, KmsPluginError> {
    let var = |name: &'static str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or(KmsPluginError::MissingCredential(name))
    };
    let session_token = var("AWS_SESSION_TOKEN").ok();
    Ok(Credentials::new(
        var("AWS_ACCESS_KEY_ID")?,
        var("AWS_SECRET_ACCESS_KEY")?,
        session_token,
    ))
}

/// Listens on `path`, replacing a socket an earlier run left there, owner-only.
fn bind(path: &Path) -> Result<UnixListener, KmsPluginError> {
    let failed = |source| KmsPluginError::Socket {
        path: path.to_owned(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) => {
            std::fs::remove_file(path).map_err(failed)?;
        }
        Ok(_) => {
            return Err(failed(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a file that is not a socket is in the way",
            )));
        }
        Err(_) => {}
    }
    let listener = UnixListener::bind(path).map_err(failed)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(failed)?;
    Ok(listener)
}
