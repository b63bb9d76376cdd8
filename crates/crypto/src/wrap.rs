//! Root-key wrapping of backing keys and secret access keys: AES-256-GCM under the root key,
//! with the key's ARN and version (or the access key id) bound as associated data so a wrapped
//! secret cannot be moved to another key, version or access key (DESIGN.md, "Key hierarchy").

use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::error::CryptoError;
use crate::secret::{BackingKey, RootKey, SecretBytes};

/// What a wrapped backing key is bound to.
#[derive(Clone, Copy, Debug)]
pub struct WrapBinding<'a> {
    pub key_arn: &'a str,
    pub version: u32,
}

impl WrapBinding<'_> {
    fn aad(&self) -> Vec<u8> {
        let mut aad = b"keyshard wrap v1\0".to_vec();
        aad.extend_from_slice(self.key_arn.as_bytes());
        aad.push(0);
        aad.extend_from_slice(&self.version.to_be_bytes());
        aad
    }
}

/// The associated data of a wrapped secret access key: it cannot be moved to another access
/// key id.
fn access_secret_aad(access_key_id: &str) -> Vec<u8> {
    let mut aad = b"keyshard access key v1\0".to_vec();
    aad.extend_from_slice(access_key_id.as_bytes());
    aad
}

impl RootKey {
    /// Wraps a backing key: a random 12-byte nonce, then ciphertext and tag.
    pub fn wrap(
        &self,
        backing: &BackingKey,
        binding: WrapBinding<'_>,
    ) -> Result<Vec<u8>, CryptoError> {
        self.seal(backing.secret_bytes(), binding.aad())
    }

    /// Unwraps what [`RootKey::wrap`] produced for the same binding.
    pub fn unwrap(
        &self,
        wrapped: &[u8],
        binding: WrapBinding<'_>,
    ) -> Result<Arc<BackingKey>, CryptoError> {
        BackingKey::from_secret(self.open(wrapped, binding.aad())?)
    }

    /// Wraps a secret access key, bound to its access key id, as [`RootKey::wrap`] wraps
    /// backing keys.
    pub fn wrap_access_secret(
        &self,
        secret: &SecretBytes,
        access_key_id: &str,
    ) -> Result<Vec<u8>, CryptoError> {
        self.seal(secret.secret_bytes(), access_secret_aad(access_key_id))
    }

    /// Unwraps what [`RootKey::wrap_access_secret`] produced for the same access key id.
    pub fn unwrap_access_secret(
        &self,
        wrapped: &[u8],
        access_key_id: &str,
    ) -> Result<SecretBytes, CryptoError> {
        self.open(wrapped, access_secret_aad(access_key_id))
    }

    fn seal(&self, secret: &[u8], aad: Vec<u8>) -> Result<Vec<u8>, CryptoError> {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, self.secret_bytes())?);
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)?;

        let mut out = Vec::with_capacity(NONCE_LEN + secret.len() + 16);
        out.extend_from_slice(&nonce);
        let mut sealed = secret.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut sealed,
        )?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open(&self, wrapped: &[u8], aad: Vec<u8>) -> Result<SecretBytes, CryptoError> {
        let fail = || CryptoError::Unwrap("root key or binding mismatch");
        if wrapped.len() < NONCE_LEN {
            return Err(fail());
        }
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, self.secret_bytes())?);
        let (nonce, sealed) = wrapped.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;

        let mut buffer = SecretBytes::new(sealed.to_vec());
        let len = key
            .open_in_place(nonce, Aad::from(aad), buffer.bytes_mut())
            .map_err(|_| fail())?
            .len();
        buffer.truncate(len);
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(byte: u8) -> RootKey {
        RootKey::new(SecretBytes::new(vec![byte; 32])).unwrap()
    }

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn binding(version: u32) -> WrapBinding<'static> {
        WrapBinding {
            key_arn: ARN,
            version,
        }
    }

    #[test]
    fn a_wrapped_key_unwraps_to_the_same_bytes() {
        let backing = BackingKey::generate().unwrap();
        let wrapped = root(1).wrap(&backing, binding(1)).unwrap();
        assert_eq!(wrapped.len(), 12 + 32 + 16);
        let unwrapped = root(1).unwrap(&wrapped, binding(1)).unwrap();
        assert_eq!(unwrapped.secret_bytes(), backing.secret_bytes());
    }

    #[test]
    fn a_wrapped_key_does_not_contain_the_key() {
        let backing = BackingKey::generate().unwrap();
        let wrapped = root(1).wrap(&backing, binding(1)).unwrap();
        assert!(!wrapped.windows(32).any(|w| w == backing.secret_bytes()));
    }

    #[test]
    fn unwrapping_fails_under_another_root_key_version_or_arn() {
        let backing = BackingKey::generate().unwrap();
        let wrapped = root(1).wrap(&backing, binding(1)).unwrap();
        let other_arn = WrapBinding {
            key_arn: "arn:aws:kms:us-east-1:111122223333:key/other",
            version: 1,
        };
        for (key, bind) in [
            (root(2), binding(1)),
            (root(1), binding(2)),
            (root(1), other_arn),
        ] {
            assert_eq!(
                key.unwrap(&wrapped, bind).unwrap_err(),
                CryptoError::Unwrap("root key or binding mismatch")
            );
        }
    }

    #[test]
    fn a_wrapped_access_secret_unwraps_only_for_its_access_key_id() {
        let secret = SecretBytes::new(b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_vec());
        let wrapped = root(1)
            .wrap_access_secret(&secret, "AKIAIOSFODNN7EXAMPLE")
            .unwrap();
        assert!(!wrapped.windows(8).any(|w| w == &secret.secret_bytes()[..8]));
        let back = root(1)
            .unwrap_access_secret(&wrapped, "AKIAIOSFODNN7EXAMPLE")
            .unwrap();
        assert_eq!(back.secret_bytes(), secret.secret_bytes());
        for (key, id) in [(root(2), "AKIAIOSFODNN7EXAMPLE"), (root(1), "AKIAOTHER")] {
            assert_eq!(
                key.unwrap_access_secret(&wrapped, id).unwrap_err(),
                CryptoError::Unwrap("root key or binding mismatch")
            );
        }
        // A backing key wrapped for a key ARN is not a secret access key.
        let backing = root(1)
            .wrap(&BackingKey::generate().unwrap(), binding(1))
            .unwrap();
        assert_eq!(
            root(1).unwrap_access_secret(&backing, ARN).unwrap_err(),
            CryptoError::Unwrap("root key or binding mismatch")
        );
    }

    #[test]
    fn unwrapping_fails_on_any_flipped_byte() {
        let backing = BackingKey::generate().unwrap();
        let wrapped = root(1).wrap(&backing, binding(1)).unwrap();
        for i in 0..wrapped.len() {
            let mut tampered = wrapped.clone();
            tampered[i] ^= 0x01;
            assert_eq!(
                root(1).unwrap(&tampered, binding(1)).unwrap_err(),
                CryptoError::Unwrap("root key or binding mismatch"),
                "byte {i}"
            );
        }
        assert_eq!(
            root(1).unwrap(&wrapped[..5], binding(1)).unwrap_err(),
            CryptoError::Unwrap("root key or binding mismatch")
        );
    }
}
