//! Secret byte strings: wiped on drop, never cloned, never printed.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::CryptoError;

/// Bytes that must not outlive their use or reach a log: data-key plaintext, decrypted
/// plaintext, key material.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of bytes that are already secret.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// `len` bytes from the system RNG.
    pub fn random(len: usize) -> Result<Self, CryptoError> {
        let mut bytes = vec![0u8; len];
        aws_lc_rs::rand::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    pub fn secret_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The buffer, for opening ciphertext in place.
    pub(crate) fn bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }

    /// Drops trailing bytes (a tag after opening); zeroizing on drop still covers the whole
    /// allocation.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// Bytes in a root key and in a backing key: both are AES-256 keys.
pub(crate) const KEY_LEN: usize = 32;

/// A 256-bit backing key version of a KMS key, in the clear. Only shards hold these, shared
/// between the cache and the calls using them. The bytes live inline in the shared allocation,
/// written there in place and never moved, so a cached key costs one allocation and no copy of
/// it is left behind on the stack.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct BackingKey([u8; KEY_LEN]);

impl BackingKey {
    /// A new key from the system RNG.
    pub fn generate() -> Result<Arc<Self>, CryptoError> {
        Self::filled_in_place(|bytes| Ok(aws_lc_rs::rand::fill(bytes)?))
    }

    /// The key in `bytes`, which must be 32 bytes long; `bytes` is wiped when dropped.
    pub fn from_secret(bytes: SecretBytes) -> Result<Arc<Self>, CryptoError> {
        check_len(&bytes)?;
        Self::filled_in_place(|key| {
            key.copy_from_slice(bytes.secret_bytes());
            Ok(())
        })
    }

    fn filled_in_place(
        fill: impl FnOnce(&mut [u8; KEY_LEN]) -> Result<(), CryptoError>,
    ) -> Result<Arc<Self>, CryptoError> {
        let mut key = Arc::new(Self([0; KEY_LEN]));
        // A new Arc has no other holder.
        let bytes = &mut Arc::get_mut(&mut key).ok_or(CryptoError::Primitive)?.0;
        fill(bytes)?;
        Ok(key)
    }

    pub fn secret_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for BackingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackingKey(<redacted>)")
    }
}

/// A deployment's root key, which wraps every backing key. It is identified by a fingerprint
/// so that several can be live while stored keys are re-wrapped.
pub struct RootKey {
    id: String,
    key: SecretBytes,
}

impl RootKey {
    pub fn new(key: SecretBytes) -> Result<Self, CryptoError> {
        check_len(&key)?;
        // The id is a hash of the key under a fixed label: stable, and revealing nothing that
        // helps recover the key.
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"keyshard root key id v1\0");
        ctx.update(key.secret_bytes());
        let id = hex::encode(&ctx.finish().as_ref()[..8]);
        Ok(Self { id, key })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn secret_bytes(&self) -> &[u8] {
        self.key.secret_bytes()
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn check_len(bytes: &SecretBytes) -> Result<(), CryptoError> {
    if bytes.len() == KEY_LEN {
        Ok(())
    } else {
        Err(CryptoError::KeyLength {
            expected: KEY_LEN,
            actual: bytes.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_no_secret_bytes() {
        let secret = SecretBytes::new(vec![0xAB; 4]);
        assert_eq!(format!("{secret:?}"), "SecretBytes(<4 bytes redacted>)");
        let backing = BackingKey::from_secret(SecretBytes::new(vec![0xAB; 32])).unwrap();
        assert_eq!(format!("{backing:?}"), "BackingKey(<redacted>)");
        let root = RootKey::new(SecretBytes::new(vec![0xAB; 32])).unwrap();
        assert_eq!(
            format!("{root:?}"),
            format!("RootKey {{ id: {:?}, .. }}", root.id())
        );
    }

    #[test]
    fn root_key_ids_are_stable_and_distinct() {
        let a = RootKey::new(SecretBytes::new(vec![1; 32])).unwrap();
        let a_again = RootKey::new(SecretBytes::new(vec![1; 32])).unwrap();
        let b = RootKey::new(SecretBytes::new(vec![2; 32])).unwrap();
        assert_eq!(a.id(), a_again.id());
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id().len(), 16);
    }

    #[test]
    fn keys_of_the_wrong_length_are_refused() {
        assert_eq!(
            RootKey::new(SecretBytes::new(vec![1; 16])).unwrap_err(),
            CryptoError::KeyLength {
                expected: 32,
                actual: 16
            }
        );
        assert_eq!(
            BackingKey::from_secret(SecretBytes::new(vec![1; 33])).unwrap_err(),
            CryptoError::KeyLength {
                expected: 32,
                actual: 33
            }
        );
    }

    #[test]
    fn random_secrets_have_the_asked_length_and_differ() {
        let a = SecretBytes::random(32).unwrap();
        let b = SecretBytes::random(32).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a.secret_bytes(), b.secret_bytes());
    }
}
