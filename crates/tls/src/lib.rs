//! Keyshard's TLS, on rustls with the aws-lc-rs provider: a server side for the gateway's
//! client-facing ports and the shards' gRPC port, optionally requiring client certificates
//! signed by a given CA, and a client side for the gateway's channels to shards.
//!
//! Certificates, keys and CA bundles come from PEM files, which are read again every reload
//! interval; when their contents change and still make a valid configuration, each new
//! connection uses the new one, and a bad new set is logged and ignored. Connections already
//! open keep the certificate they were made with.

mod client;
mod files;
mod reload;
mod server;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;

pub use client::{ClientTls, ClientTlsFiles};
pub use server::{ServerTls, ServerTlsFiles, TlsConnection};

/// A TLS setting that cannot be used. Messages name files, never their contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },

    #[error("{path} holds a certificate that does not parse")]
    Certificate {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },

    // The PEM parser's error can quote the file, so it is left out.
    #[error("{path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { path: PathBuf },

    #[error("the private key in {path} is not a supported RSA, ECDSA or Ed25519 key")]
    UnsupportedKey { path: PathBuf },

    #[error("the private key in {key} does not belong to the first certificate in {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },

    #[error("{path} holds a CA certificate that cannot be a trust anchor")]
    TrustAnchor {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },

    #[error("invalid TLS server name `{0}`")]
    ServerName(String),

    #[error("cannot check client certificates against {path}")]
    ClientVerifier {
        path: PathBuf,
        #[source]
        source: rustls::server::VerifierBuilderError,
    },

    #[error("cannot build the TLS configuration")]
    Config(#[source] rustls::Error),
}

/// The one cryptographic provider every configuration uses.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}
