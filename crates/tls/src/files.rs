//! PEM files: certificate chains, private keys and CA bundles.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use zeroize::{Zeroize as _, Zeroizing};

use crate::TlsError;

/// A file's bytes, wiped when dropped since a key file's are secret.
pub(crate) type Contents = Zeroizing<Vec<u8>>;

pub(crate) fn read(path: &Path) -> Result<Contents, TlsError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
}

/// Every certificate in a PEM file, in order; at least one.
pub(crate) fn certificates(
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Certificate {
            path: path.to_owned(),
            source,
        })?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certificates)
}

/// The chain in `cert` with the private key in `key`, which must belong to its first
/// certificate. The key's DER bytes are wiped once aws-lc-rs holds the key.
pub(crate) fn certified_key(
    (cert_path, cert): (&Path, &[u8]),
    (key_path, key): (&Path, &[u8]),
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = certificates(cert_path, cert)?;
    let mut der = PrivateKeyDer::from_pem_slice(key).map_err(|_| TlsError::NoKey {
        path: key_path.to_owned(),
    })?;
    let signing_key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&der);
    der.zeroize();
    let signing_key = signing_key.map_err(|_| TlsError::UnsupportedKey {
        path: key_path.to_owned(),
    })?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified.keys_match().map_err(|_| TlsError::KeyMismatch {
        cert: cert_path.to_owned(),
        key: key_path.to_owned(),
    })?;
    Ok(Arc::new(certified))
}

/// The CA certificates in a PEM bundle, as trust anchors.
pub(crate) fn trust_anchors(path: &Path, pem: &[u8]) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates(path, pem)? {
        roots
            .add(certificate)
            .map_err(|source| TlsError::TrustAnchor {
                path: path.to_owned(),
                source,
            })?;
    }
    Ok(Arc::new(roots))
}
