//! Certificate authorities made for one test, and the certificates they sign, as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A certificate authority made for one test.
pub(crate) struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its private key, as PEM.
pub(crate) struct Leaf {
    pub(crate) cert: String,
    pub(crate) key: String,
    /// The key's DER bytes, for the log scan: no log may hold them in any form.
    pub(crate) key_der: Vec<u8>,
}

impl TestCa {
    pub(crate) fn new(name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("a CA key");
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).expect("a self-signed CA"),
        }
    }

    pub(crate) fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for 127.0.0.1 and localhost, for `usage`.
    pub(crate) fn issue(&self, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("valid names");
        params
            .distinguished_name
            .push(DnType::CommonName, "keyshard test");
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("a leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("a signed leaf");
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
            key_der: key.serialize_der(),
        }
    }
}

impl Leaf {
    /// Writes the certificate and key as `<name>.crt` and `<name>.key` in `dir`, replacing
    /// files of those names whole, and returns their paths.
    pub(crate) fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        replace(&key, &self.key);
        replace(&cert, &self.cert);
        (cert, key)
    }
}

/// Writes `path` by renaming a finished file over it, as a Secret volume update does.
pub(crate) fn replace(path: &Path, text: &str) {
    let staged = path.with_extension("staged");
    std::fs::write(&staged, text).expect("a file in the test directory");
    std::fs::rename(&staged, path).expect("the staged file replaces the old one");
}

pub(crate) fn path_text(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}
