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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use rcgen::{CertificateParams, KeyPair};

    use super::*;

    /// A self-signed certificate and its key, as PEM.
    fn pair() -> (String, String) {
        let key = KeyPair::generate().expect("a key");
        let cert = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("a valid name")
            .self_signed(&key)
            .expect("a certificate");
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_certificate_with_its_own_key_loads() {
        let (cert, key) = pair();
        let certified = certified_key(
            (Path::new("c.pem"), cert.as_bytes()),
            (Path::new("k.pem"), key.as_bytes()),
        )
        .expect("a matching pair loads");
        assert_eq!(certified.cert.len(), 1);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let ((cert, _), (_, other_key)) = (pair(), pair());
        let refused = certified_key(
            (Path::new("c.pem"), cert.as_bytes()),
            (Path::new("k.pem"), other_key.as_bytes()),
        );
        assert!(
            matches!(&refused, Err(TlsError::KeyMismatch { cert, key }) if cert == &PathBuf::from("c.pem") && key == &PathBuf::from("k.pem")),
            "{:?}",
            refused.err()
        );
    }

    #[test]
    fn a_key_file_without_a_key_is_refused_naming_the_file_only() {
        let (cert, key) = pair();
        let garbled = key.replace("PRIVATE KEY-----\n", "PRIVATE KEY-----\n!!");
        for text in [cert.as_str(), garbled.as_str(), ""] {
            let refused = certified_key(
                (Path::new("c.pem"), cert.as_bytes()),
                (Path::new("k.pem"), text.as_bytes()),
            );
            let Err(err) = refused else {
                panic!("{text:?} loaded as a key")
            };
            assert_eq!(
                err.to_string(),
                "k.pem holds no PEM private key (PKCS#8, PKCS#1 or SEC1)"
            );
            assert!(std::error::Error::source(&err).is_none());
        }
    }

    #[test]
    fn a_bundle_without_certificates_is_not_a_trust_anchor() {
        let (_, key) = pair();
        let refused = trust_anchors(Path::new("ca.pem"), key.as_bytes());
        assert_eq!(
            refused.err().map(|err| err.to_string()),
            Some("ca.pem holds no PEM certificate".to_owned())
        );
    }
}
