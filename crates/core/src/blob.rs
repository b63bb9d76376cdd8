//! The layout of a ciphertext blob: a plaintext header that names the key and backing version
//! (so Decrypt needs no `KeyId` and the gateway can route it), then the sealed payload.
//!
//! ```text
//! offset  size  field
//!      0     1  format (1)
//!      1    16  key id (UUID bytes)
//!     17     4  backing key version (big-endian)
//!     21    32  nonce: the per-call key and IV are derived from it
//!     53     4  CRC-32 of the bytes before it
//!     57   n+16 AES-256-GCM ciphertext of n plaintext bytes, then the tag
//! ```
//!
//! The whole header is authenticated (DESIGN.md, "Ciphertext blob"); sealing lives in the
//! crypto crate, which alone touches key material. The checksum is not a security measure: it
//! tells a damaged header (`InvalidCiphertextException`) from an intact one naming a key the
//! caller cannot use (`AccessDeniedException`), which would otherwise look alike because the key
//! id is read before anything is authenticated.

use crate::error::KmsError;
use crate::id::KeyId;

/// The only blob format written today.
pub const FORMAT_V1: u8 = 1;
/// Bytes in a format-1 header.
pub const HEADER_LEN: usize = 1 + 16 + 4 + NONCE_LEN + 4;
/// Bytes of per-call randomness in the header.
pub const NONCE_LEN: usize = 32;
/// Bytes of the AES-GCM authentication tag that ends every blob.
pub const TAG_LEN: usize = 16;

/// The header fields of a blob.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct BlobHeader {
    pub key_id: KeyId,
    pub version: u32,
    pub nonce: [u8; NONCE_LEN],
}

/// A blob split into its parts, borrowing the caller's bytes.
#[derive(Debug)]
pub struct ParsedBlob<'a> {
    pub header: BlobHeader,
    /// The header exactly as it appears in the blob, for use as associated data.
    pub header_bytes: &'a [u8],
    /// Ciphertext followed by the tag.
    pub sealed: &'a [u8],
}

impl BlobHeader {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = FORMAT_V1;
        out[1..17].copy_from_slice(self.key_id.as_bytes());
        out[17..21].copy_from_slice(&self.version.to_be_bytes());
        out[21..53].copy_from_slice(&self.nonce);
        let checksum = crc32(&out[..53]);
        out[53..].copy_from_slice(&checksum.to_be_bytes());
        out
    }
}

/// Splits a blob. Anything that is not a format-1 blob with room for a tag and at least one
/// byte of ciphertext is `InvalidCiphertextException`, as AWS answers for foreign bytes.
pub fn parse(blob: &[u8]) -> Result<ParsedBlob<'_>, KmsError> {
    if blob.len() < HEADER_LEN + TAG_LEN + 1 || blob[0] != FORMAT_V1 {
        return Err(KmsError::InvalidCiphertext);
    }
    let (header_bytes, sealed) = blob.split_at(HEADER_LEN);
    if crc32(&header_bytes[..53]).to_be_bytes() != header_bytes[53..] {
        return Err(KmsError::InvalidCiphertext);
    }
    let mut key_id = [0u8; 16];
    key_id.copy_from_slice(&header_bytes[1..17]);
    let mut version = [0u8; 4];
    version.copy_from_slice(&header_bytes[17..21]);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&header_bytes[21..53]);
    Ok(ParsedBlob {
        header: BlobHeader {
            key_id: KeyId::from_bytes(key_id),
            version: u32::from_be_bytes(version),
            nonce,
        },
        header_bytes,
        sealed,
    })
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320): detects every single-byte change.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> BlobHeader {
        BlobHeader {
            key_id: KeyId::parse("1234abcd-12ab-34cd-56ef-1234567890ab").unwrap(),
            version: 7,
            nonce: [9; NONCE_LEN],
        }
    }

    #[test]
    fn a_header_parses_back_to_its_fields() {
        let mut blob = header().encode().to_vec();
        blob.extend_from_slice(&[1u8; TAG_LEN + 5]);
        let parsed = parse(&blob).unwrap();
        assert_eq!(parsed.header, header());
        assert_eq!(parsed.header_bytes, &header().encode()[..]);
        assert_eq!(parsed.sealed, &[1u8; TAG_LEN + 5][..]);
    }

    #[test]
    fn the_checksum_is_the_standard_crc32() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn a_header_with_any_byte_changed_is_invalid_ciphertext() {
        let mut blob = header().encode().to_vec();
        blob.extend_from_slice(&[1u8; TAG_LEN + 5]);
        for i in 0..HEADER_LEN {
            let mut damaged = blob.clone();
            damaged[i] ^= 0x01;
            assert_eq!(
                parse(&damaged).unwrap_err(),
                KmsError::InvalidCiphertext,
                "byte {i}"
            );
        }
    }

    #[test]
    fn foreign_bytes_are_invalid_ciphertext() {
        assert_eq!(
            parse(b"not-a-kms-ciphertext").unwrap_err(),
            KmsError::InvalidCiphertext
        );
        let mut blob = header().encode().to_vec();
        blob.extend_from_slice(&[0u8; TAG_LEN + 1]);
        blob[0] = 2;
        assert_eq!(parse(&blob).unwrap_err(), KmsError::InvalidCiphertext);
    }

    #[test]
    fn a_blob_without_ciphertext_is_invalid() {
        let mut blob = header().encode().to_vec();
        blob.extend_from_slice(&[0u8; TAG_LEN]);
        assert_eq!(parse(&blob).unwrap_err(), KmsError::InvalidCiphertext);
    }
}
