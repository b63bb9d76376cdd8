//! How failures below the shard become AWS errors: store and crypto errors are logged here with
//! their cause and answered as internal errors or timeouts, never with their details.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use keyshard_core::KmsError;
use keyshard_crypto::CryptoError;
use keyshard_store::StoreError;

/// While the store is down every request fails the same way; one ERROR line per this many
/// seconds says so, the rest go to DEBUG.
const UNAVAILABLE_LOG_INTERVAL_SECS: u64 = 10;

static LAST_UNAVAILABLE_LOG: AtomicU64 = AtomicU64::new(0);

pub(crate) fn from_store(err: StoreError) -> KmsError {
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    match err {
        StoreError::NotFound => {
            KmsError::NotFound("The key was deleted while the request ran.".to_owned())
        }
        StoreError::Unavailable(_) | StoreError::SchemaBehind { .. } => {
            if first_in_interval(&LAST_UNAVAILABLE_LOG, UNAVAILABLE_LOG_INTERVAL_SECS) {
                tracing::error!(error = %err, ?cause, "key store unavailable");
            } else {
                tracing::debug!(error = %err, ?cause, "key store unavailable");
            }
            KmsError::DependencyTimeout("The key store is temporarily unavailable.".to_owned())
        }
        _ => {
            tracing::error!(error = %err, ?cause, "key store failed");
            KmsError::Internal("The key store failed to process the request.".to_owned())
        }
    }
}

pub(crate) fn from_crypto(err: CryptoError) -> KmsError {
    tracing::error!(error = %err, "cryptographic operation failed");
    KmsError::Internal("A cryptographic operation failed.".to_owned())
}

/// Whether `interval` seconds have passed since the last time this returned true for `last`.
fn first_in_interval(last: &AtomicU64, interval: u64) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let previous = last.load(Ordering::Relaxed);
    now.saturating_sub(previous) >= interval
        && last
            .compare_exchange(previous, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_failure_in_an_interval_is_logged_loudly() {
        let last = AtomicU64::new(0);
        assert!(first_in_interval(&last, 10));
        assert!(!first_in_interval(&last, 10));
        assert!(!first_in_interval(&last, 10));
    }
}
