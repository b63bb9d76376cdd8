//! Failures of the crypto layer. None carries key material or plaintext.

/// A cryptographic operation failed.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// aws-lc-rs reported an unspecified failure (an RNG or key setup fault).
    #[error("aws-lc-rs operation failed")]
    Primitive,

    /// A key had the wrong number of bytes.
    #[error("key must be {expected} bytes, got {actual}")]
    KeyLength { expected: usize, actual: usize },

    /// Wrapped key material did not authenticate under this root key and binding.
    #[error("wrapped key material does not open under root key `{0}`")]
    Unwrap(&'static str),
}

impl From<aws_lc_rs::error::Unspecified> for CryptoError {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        Self::Primitive
    }
}
