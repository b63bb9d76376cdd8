//! How failures below the shard become AWS errors: store and crypto errors are logged here with
//! their cause and answered as internal errors or timeouts, never with their details.

use keyshard_core::KmsError;
use keyshard_crypto::CryptoError;
use keyshard_store::StoreError;

pub(crate) fn from_store(err: StoreError) -> KmsError {
    match err {
        StoreError::NotFound => {
            KmsError::NotFound("The key was deleted while the request ran.".to_owned())
        }
        StoreError::Unavailable(_) => {
            tracing::error!(error = %err, cause = ?std::error::Error::source(&err), "key store unavailable");
            KmsError::DependencyTimeout("The key store is temporarily unavailable.".to_owned())
        }
        _ => {
            tracing::error!(error = %err, cause = ?std::error::Error::source(&err), "key store failed");
            KmsError::Internal("The key store failed to process the request.".to_owned())
        }
    }
}

pub(crate) fn from_crypto(err: CryptoError) -> KmsError {
    tracing::error!(error = %err, "cryptographic operation failed");
    KmsError::Internal("A cryptographic operation failed.".to_owned())
}
