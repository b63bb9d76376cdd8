//! Sealing and opening ciphertext blobs (layout in `keyshard_core::blob`).
//!
//! Each blob has a fresh 32-byte nonce; the AES-256-GCM key and IV for that one blob are
//! derived from the backing key and the nonce with HKDF-SHA256. A backing key therefore never
//! encrypts twice under the same key and IV, and carries no per-key nonce budget. The header and
//! the canonical encryption context are the associated data.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN as IV_LEN, Nonce, UnboundKey};
use aws_lc_rs::{digest, hkdf};
use keyshard_core::KmsError;
use keyshard_core::blob::{BlobHeader, NONCE_LEN, ParsedBlob, TAG_LEN};
use keyshard_core::context::EncryptionContext;
use keyshard_core::id::KeyId;

use crate::error::CryptoError;
use crate::secret::{BackingKey, KEY_LEN, SecretBytes};

const DERIVE_INFO: &[u8] = b"keyshard blob v1 key and iv";

/// Encrypts `plaintext` under a backing key version, binding `context`.
pub fn seal(
    backing: &BackingKey,
    key_id: KeyId,
    version: u32,
    context: &EncryptionContext,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce)?;
    let header = BlobHeader {
        key_id,
        version,
        nonce,
    }
    .encode();
    let (key, iv) = derive(backing, &nonce)?;

    let mut out = Vec::with_capacity(header.len() + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&header);
    out.extend_from_slice(plaintext);
    let mut sealed = out.split_off(header.len());
    key.seal_in_place_append_tag(iv, Aad::from(aad(&header, context)), &mut sealed)?;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts a parsed blob with the backing key version its header names. Any mismatch (a
/// changed byte, another context, another key) is `InvalidCiphertextException`, as AWS answers.
pub fn open(
    backing: &BackingKey,
    parsed: &ParsedBlob<'_>,
    context: &EncryptionContext,
) -> Result<SecretBytes, KmsError> {
    let (key, iv) =
        derive(backing, &parsed.header.nonce).map_err(|_| KmsError::InvalidCiphertext)?;
    let mut buffer = SecretBytes::new(parsed.sealed.to_vec());
    let len = key
        .open_in_place(
            iv,
            Aad::from(aad(parsed.header_bytes, context)),
            buffer.bytes_mut(),
        )
        .map_err(|_| KmsError::InvalidCiphertext)?
        .len();
    buffer.truncate(len);
    Ok(buffer)
}

/// The `KeyMaterialId` of a backing key version: 64 lowercase hex digits that name the version
/// without revealing anything about its material.
pub fn key_material_id(key_id: KeyId, version: u32) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"keyshard key material id v1\0");
    ctx.update(key_id.as_bytes());
    ctx.update(&version.to_be_bytes());
    hex::encode(ctx.finish().as_ref())
}

struct Okm(usize);

impl hkdf::KeyType for Okm {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(
    backing: &BackingKey,
    nonce: &[u8; NONCE_LEN],
) -> Result<(LessSafeKey, Nonce), CryptoError> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, nonce).extract(backing.secret_bytes());
    let mut okm = SecretBytes::new(vec![0u8; KEY_LEN + IV_LEN]);
    prk.expand(&[DERIVE_INFO], Okm(KEY_LEN + IV_LEN))?
        .fill(okm.bytes_mut())?;
    let (key_bytes, iv) = okm.secret_bytes().split_at(KEY_LEN);
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key_bytes)?);
    let iv = Nonce::try_assume_unique_for_key(iv)?;
    Ok((key, iv))
}

fn aad(header: &[u8], context: &EncryptionContext) -> Vec<u8> {
    let mut aad = header.to_vec();
    aad.extend_from_slice(&context.canonical_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use keyshard_core::blob;

    use super::*;

    fn open_bytes(
        backing: &BackingKey,
        bytes: &[u8],
        context: &EncryptionContext,
    ) -> Result<SecretBytes, KmsError> {
        open(backing, &blob::parse(bytes)?, context)
    }

    fn key_id() -> KeyId {
        KeyId::parse("1234abcd-12ab-34cd-56ef-1234567890ab").unwrap()
    }

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        EncryptionContext::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        )
    }

    #[test]
    fn a_sealed_blob_opens_to_its_plaintext_and_names_its_key() {
        let backing = BackingKey::generate().unwrap();
        let blob = seal(&backing, key_id(), 3, &ctx(&[("a", "b")]), b"hello").unwrap();
        assert_eq!(blob.len(), blob::HEADER_LEN + 5 + TAG_LEN);
        let parsed = blob::parse(&blob).unwrap();
        assert_eq!((parsed.header.key_id, parsed.header.version), (key_id(), 3));
        let plaintext = open(&backing, &parsed, &ctx(&[("a", "b")])).unwrap();
        assert_eq!(plaintext.secret_bytes(), b"hello");
    }

    #[test]
    fn opening_with_another_context_fails() {
        let backing = BackingKey::generate().unwrap();
        let blob = seal(&backing, key_id(), 1, &ctx(&[("ab", "c")]), b"x").unwrap();
        for wrong in [
            ctx(&[]),
            ctx(&[("a", "bc")]),
            ctx(&[("ab", "C")]),
            ctx(&[("ab", "c"), ("d", "")]),
        ] {
            assert_eq!(
                open_bytes(&backing, &blob, &wrong).unwrap_err(),
                KmsError::InvalidCiphertext
            );
        }
    }

    #[test]
    fn opening_under_another_backing_key_fails() {
        let blob = seal(
            &BackingKey::generate().unwrap(),
            key_id(),
            1,
            &ctx(&[]),
            b"x",
        )
        .unwrap();
        let other = BackingKey::generate().unwrap();
        assert_eq!(
            open_bytes(&other, &blob, &ctx(&[])).unwrap_err(),
            KmsError::InvalidCiphertext
        );
    }

    #[test]
    fn two_seals_of_the_same_plaintext_differ() {
        let backing = BackingKey::generate().unwrap();
        let a = seal(&backing, key_id(), 1, &ctx(&[]), b"same").unwrap();
        let b = seal(&backing, key_id(), 1, &ctx(&[]), b"same").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn key_material_ids_are_64_hex_and_change_with_the_version() {
        let v1 = key_material_id(key_id(), 1);
        assert_eq!(v1.len(), 64);
        assert!(
            v1.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(v1, key_material_id(key_id(), 1));
        assert_ne!(v1, key_material_id(key_id(), 2));
    }
}
