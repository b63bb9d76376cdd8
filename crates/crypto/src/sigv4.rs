//! AWS Signature Version 4 keys: the daily signing key derived from a secret access key, and the
//! HMAC-SHA256 signature it makes over a string to sign.

use std::fmt;

use aws_lc_rs::digest::{self, SHA256_OUTPUT_LEN};
use aws_lc_rs::hmac;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::secret::SecretBytes;

/// A SigV4 signing key: `HMAC-SHA256` chained over `"AWS4" + secret`, the date, the region, the
/// service and `aws4_request`. It signs requests for that one day, region and service, so a front
/// end can hold it in place of the secret access key.
///
/// The bytes live on the heap, so moving the key (into an `Arc`, say) copies only a pointer, and
/// they are wiped when the key is dropped.
pub struct SigningKey(Box<[u8; SHA256_OUTPUT_LEN]>);

impl SigningKey {
    /// The key for requests signed on `date` (`yyyymmdd`) for `service` in `region`.
    pub fn derive(secret_access_key: &[u8], date: &str, region: &str, service: &str) -> Self {
        let prefixed = SecretBytes::new([b"AWS4", secret_access_key].concat());
        let mut key = Box::new([0u8; SHA256_OUTPUT_LEN]);
        key.copy_from_slice(hmac_sha256(prefixed.secret_bytes(), date.as_bytes()).as_ref());
        for part in [region, service, "aws4_request"] {
            let next = hmac_sha256(&key[..], part.as_bytes());
            key.copy_from_slice(next.as_ref());
        }
        Self(key)
    }

    /// Takes a key derived elsewhere; the caller's copy of `bytes` is left to the caller to wipe.
    pub fn from_bytes(mut bytes: [u8; SHA256_OUTPUT_LEN]) -> Self {
        let key = Self(Box::new(bytes));
        // `bytes` is this function's own copy of the argument.
        bytes.zeroize();
        key
    }

    /// The key itself, for sending it from the shard that derived it to a gateway.
    pub fn expose(&self) -> &[u8; SHA256_OUTPUT_LEN] {
        &self.0
    }

    /// The signature of `string_to_sign`.
    pub fn signature(&self, string_to_sign: &[u8]) -> [u8; SHA256_OUTPUT_LEN] {
        let mut signature = [0u8; SHA256_OUTPUT_LEN];
        signature.copy_from_slice(hmac_sha256(&self.0[..], string_to_sign).as_ref());
        signature
    }

    /// Whether `signature` is the signature of `string_to_sign`, compared in constant time.
    pub fn verify(&self, string_to_sign: &[u8], signature: &[u8; SHA256_OUTPUT_LEN]) -> bool {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0[..]);
        hmac::verify(&key, string_to_sign, signature).is_ok()
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SigningKey {}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// The SHA-256 digest of `bytes`, as SigV4 hashes payloads and canonical requests.
pub fn sha256(bytes: &[u8]) -> [u8; SHA256_OUTPUT_LEN] {
    let mut out = [0u8; SHA256_OUTPUT_LEN];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example credentials of AWS's SigV4 documentation ("Create a signed AWS API request").
    const EXAMPLE_SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    // Expected values below were computed with Python's `hmac` and `hashlib` modules.

    #[test]
    fn derive_matches_the_documented_signing_key() {
        let key = SigningKey::derive(EXAMPLE_SECRET, "20150830", "us-east-1", "iam");
        assert_eq!(
            hex::encode(key.expose()),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        let key = SigningKey::derive(EXAMPLE_SECRET, "20120215", "us-east-1", "iam");
        assert_eq!(
            hex::encode(key.expose()),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    /// The string to sign of the documented `GET /?Action=ListUsers&Version=2010-05-08` request.
    const EXAMPLE_STRING_TO_SIGN: &[u8] = b"AWS4-HMAC-SHA256\n20150830T123600Z\n\
        20150830/us-east-1/iam/aws4_request\n\
        f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59";

    const EXAMPLE_SIGNATURE: &str =
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

    #[test]
    fn the_documented_request_gets_the_documented_signature() {
        let key = SigningKey::derive(EXAMPLE_SECRET, "20150830", "us-east-1", "iam");
        assert_eq!(
            hex::encode(key.signature(EXAMPLE_STRING_TO_SIGN)),
            EXAMPLE_SIGNATURE
        );
    }

    #[test]
    fn verify_accepts_only_the_exact_signature() {
        let key = SigningKey::derive(EXAMPLE_SECRET, "20150830", "us-east-1", "iam");
        let mut signature = [0u8; SHA256_OUTPUT_LEN];
        hex::decode_to_slice(EXAMPLE_SIGNATURE, &mut signature).unwrap();
        assert!(key.verify(EXAMPLE_STRING_TO_SIGN, &signature));

        let mut flipped = signature;
        flipped[31] ^= 1;
        assert!(!key.verify(EXAMPLE_STRING_TO_SIGN, &flipped));
        let mut other_text = EXAMPLE_STRING_TO_SIGN.to_vec();
        other_text[0] = b'B';
        assert!(!key.verify(&other_text, &signature));
        let next_day = SigningKey::derive(EXAMPLE_SECRET, "20150831", "us-east-1", "iam");
        assert!(!next_day.verify(EXAMPLE_STRING_TO_SIGN, &signature));
    }

    #[test]
    fn a_key_sent_as_bytes_signs_like_the_original() {
        let key = SigningKey::derive(EXAMPLE_SECRET, "20150830", "us-east-1", "iam");
        let copy = SigningKey::from_bytes(*key.expose());
        assert_eq!(copy.expose(), key.expose());
        assert_eq!(
            hex::encode(copy.signature(EXAMPLE_STRING_TO_SIGN)),
            EXAMPLE_SIGNATURE
        );
    }

    #[test]
    fn debug_output_shows_no_key_bytes() {
        let key = SigningKey::from_bytes([0xAB; SHA256_OUTPUT_LEN]);
        assert_eq!(format!("{key:?}"), "SigningKey(<redacted>)");
    }

    #[test]
    fn sha256_of_nothing_is_the_well_known_digest() {
        assert_eq!(
            hex::encode(sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
