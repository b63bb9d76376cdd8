//! The TLS settings of the serving subcommands, turned into `keyshard_tls` configurations.

use std::path::PathBuf;

use keyshard_tls::{ClientTls, ClientTlsFiles, ServerTls, ServerTlsFiles, TlsError};

use crate::config::{ClientPortTlsArgs, ShardClientTlsArgs, ShardTlsArgs, TlsReloadArgs};

/// TLS flags that do not make a configuration.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsSettingError {
    #[error("--{0}-cert-file and --{0}-key-file must be given together")]
    Pair(&'static str),

    #[error("--tls-client-ca-file needs --tls-cert-file and --tls-key-file")]
    ClientCaWithoutCert,

    #[error(
        "--shard-tls-cert-file, --shard-tls-key-file and --shard-tls-server-name need \
         --shard-tls-ca-file"
    )]
    ShardTlsWithoutCa,

    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// TLS for the JSON API and the public gRPC API, if a certificate is given.
pub(crate) fn client_port(
    args: &ClientPortTlsArgs,
    reload: TlsReloadArgs,
) -> Result<Option<ServerTls>, TlsSettingError> {
    server(&args.tls_cert_file, &args.tls_key_file, None, reload)
}

/// TLS for a shard's gRPC port, if a certificate is given, with client certificates required
/// when a client CA is.
pub(crate) fn shard_port(
    args: &ShardTlsArgs,
    reload: TlsReloadArgs,
) -> Result<Option<ServerTls>, TlsSettingError> {
    let tls = server(
        &args.tls_cert_file,
        &args.tls_key_file,
        args.tls_client_ca_file.clone(),
        reload,
    )?;
    if tls.is_none() && args.tls_client_ca_file.is_some() {
        return Err(TlsSettingError::ClientCaWithoutCert);
    }
    Ok(tls)
}

/// TLS from a gateway to its shards, if a CA is given.
pub(crate) fn to_shards(
    args: &ShardClientTlsArgs,
    reload: TlsReloadArgs,
) -> Result<Option<ClientTls>, TlsSettingError> {
    let identity = match (&args.shard_tls_cert_file, &args.shard_tls_key_file) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        (None, None) => None,
        _ => return Err(TlsSettingError::Pair("shard-tls")),
    };
    let Some(ca) = &args.shard_tls_ca_file else {
        if identity.is_some() || args.shard_tls_server_name.is_some() {
            return Err(TlsSettingError::ShardTlsWithoutCa);
        }
        return Ok(None);
    };
    let files = ClientTlsFiles {
        ca: ca.clone(),
        identity,
        server_name: args.shard_tls_server_name.clone(),
    };
    let tls = ClientTls::load(&files, reload.interval())?;
    tracing::info!(
        ca = %ca.display(),
        client_cert = files.identity.as_ref().map(|(cert, _)| tracing::field::display(cert.display())),
        "shards are reached over TLS"
    );
    Ok(Some(tls))
}

fn server(
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
    client_ca: Option<PathBuf>,
    reload: TlsReloadArgs,
) -> Result<Option<ServerTls>, TlsSettingError> {
    let (cert, key) = match (cert, key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        (None, None) => return Ok(None),
        _ => return Err(TlsSettingError::Pair("tls")),
    };
    let files = ServerTlsFiles {
        cert,
        key,
        client_ca,
    };
    let tls = ServerTls::load(&files, reload.interval())?;
    tracing::info!(
        cert = %files.cert.display(),
        key = %files.key.display(),
        client_ca = files.client_ca.as_ref().map(|ca| tracing::field::display(ca.display())),
        reload_interval_seconds = reload.tls_reload_interval_seconds,
        "TLS certificate loaded"
    );
    Ok(Some(tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reload() -> TlsReloadArgs {
        TlsReloadArgs {
            tls_reload_interval_seconds: 10,
        }
    }

    #[test]
    fn a_certificate_without_its_key_or_a_key_without_its_certificate_is_refused() {
        for (cert, key) in [(Some("c.pem"), None), (None, Some("k.pem"))] {
            let args = ClientPortTlsArgs {
                tls_cert_file: cert.map(PathBuf::from),
                tls_key_file: key.map(PathBuf::from),
            };
            let refused = client_port(&args, reload()).err().map(|e| e.to_string());
            assert_eq!(
                refused.as_deref(),
                Some("--tls-cert-file and --tls-key-file must be given together")
            );
        }
    }

    #[test]
    fn no_certificate_means_plaintext() {
        let args = ClientPortTlsArgs {
            tls_cert_file: None,
            tls_key_file: None,
        };
        assert!(matches!(client_port(&args, reload()), Ok(None)));
    }

    #[test]
    fn a_client_ca_without_a_certificate_is_refused() {
        let args = ShardTlsArgs {
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: Some(PathBuf::from("ca.pem")),
        };
        assert!(matches!(
            shard_port(&args, reload()),
            Err(TlsSettingError::ClientCaWithoutCert)
        ));
    }

    #[test]
    fn shard_client_settings_without_a_ca_are_refused() {
        let half = ShardClientTlsArgs {
            shard_tls_ca_file: Some(PathBuf::from("ca.pem")),
            shard_tls_cert_file: Some(PathBuf::from("c.pem")),
            shard_tls_key_file: None,
            shard_tls_server_name: None,
        };
        assert_eq!(
            to_shards(&half, reload())
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("--shard-tls-cert-file and --shard-tls-key-file must be given together")
        );
        let no_ca = ShardClientTlsArgs {
            shard_tls_ca_file: None,
            shard_tls_cert_file: None,
            shard_tls_key_file: None,
            shard_tls_server_name: Some("shard.internal".to_owned()),
        };
        assert!(matches!(
            to_shards(&no_ca, reload()),
            Err(TlsSettingError::ShardTlsWithoutCa)
        ));
        let none = ShardClientTlsArgs {
            shard_tls_ca_file: None,
            shard_tls_cert_file: None,
            shard_tls_key_file: None,
            shard_tls_server_name: None,
        };
        assert!(matches!(to_shards(&none, reload()), Ok(None)));
    }
}
