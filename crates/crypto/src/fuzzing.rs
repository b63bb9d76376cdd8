//! Property checks over blob sealing and opening, shared by the proptest suite below and the
//! cargo-fuzz targets in `fuzz/`. Each panics when its property fails.

use std::collections::BTreeMap;

use keyshard_core::KmsError;
use keyshard_core::blob;
use keyshard_core::context::EncryptionContext;
use keyshard_core::id::KeyId;

use crate::blob::{open, seal};
use crate::secret::{BackingKey, SecretBytes};

/// A blob sealed under `backing` opens to its plaintext, and the same blob with the byte at
/// `index` (taken modulo its length) XORed with a nonzero `mask` never opens: it fails with
/// `InvalidCiphertextException`, whether the header or the sealed part was changed. An empty
/// plaintext is skipped: every operation requires at least one byte (the model's minimum), and
/// the blob parser refuses a blob without ciphertext.
pub fn sealed_blob_tamper(
    backing: &BackingKey,
    plaintext: &[u8],
    context: &BTreeMap<String, String>,
    index: usize,
    mask: u8,
) {
    if plaintext.is_empty() {
        return;
    }
    let context = EncryptionContext::new(context.clone());
    let Ok(mut sealed) = seal(backing, KeyId::from_bytes([7; 16]), 1, &context, plaintext) else {
        panic!("sealing {} bytes failed", plaintext.len());
    };
    let opened = open_bytes(backing, &sealed, &context);
    assert_eq!(
        opened.as_ref().map(SecretBytes::secret_bytes),
        Ok(plaintext),
        "a sealed blob does not open"
    );

    let i = index % sealed.len();
    sealed[i] ^= mask.max(1);
    assert_eq!(
        open_bytes(backing, &sealed, &context).map(|p| p.len()),
        Err(KmsError::InvalidCiphertext),
        "a blob with byte {i} changed opened"
    );
}

/// Opening any bytes under `backing` returns without panicking and, as no blob was sealed under
/// a fixed key here, fails with `InvalidCiphertextException`.
pub fn open_foreign_bytes(backing: &BackingKey, bytes: &[u8]) {
    assert_eq!(
        open_bytes(backing, bytes, &EncryptionContext::default()).map(|p| p.len()),
        Err(KmsError::InvalidCiphertext)
    );
}

fn open_bytes(
    backing: &BackingKey,
    bytes: &[u8],
    context: &EncryptionContext,
) -> Result<SecretBytes, KmsError> {
    open(backing, &blob::parse(bytes)?, context)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn a_sealed_blob_with_any_byte_changed_never_opens(
            plaintext in prop::collection::vec(any::<u8>(), 1..64),
            context in prop::collection::btree_map("[a-z]{0,4}", ".{0,4}", 0..3),
            index in any::<usize>(),
            mask in 1u8..,
        ) {
            let backing = BackingKey::generate().unwrap();
            sealed_blob_tamper(&backing, &plaintext, &context, index, mask);
        }

        #[test]
        fn foreign_bytes_never_open(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            open_foreign_bytes(&BackingKey::generate().unwrap(), &bytes);
        }
    }
}
