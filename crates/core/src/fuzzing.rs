//! Property checks over the parsers and encodings that take untrusted input: the ciphertext blob
//! header, the canonical encryption-context encoding and the `KeyId` parser. Each check panics
//! when its property fails and returns quietly otherwise, so the same functions serve the
//! proptest suites below and the cargo-fuzz targets in `fuzz/`.

use std::collections::BTreeMap;

use crate::blob::{self, HEADER_LEN, TAG_LEN};
use crate::context::EncryptionContext;
use crate::error::KmsError;
use crate::id::{KeyRef, KeyRefForms, Scope};

/// Parsing any bytes as a blob returns without panicking. A blob that parses splits into a
/// header that re-encodes to exactly its own bytes and a sealed part with room for a tag and
/// at least one byte of ciphertext; anything else is `InvalidCiphertextException`.
pub fn blob_parse(bytes: &[u8]) {
    match blob::parse(bytes) {
        Ok(parsed) => {
            assert_eq!(parsed.header_bytes.len(), HEADER_LEN);
            assert_eq!(&parsed.header.encode()[..], parsed.header_bytes);
            assert!(
                parsed.sealed.len() > TAG_LEN,
                "a blob without ciphertext parsed"
            );
            assert_eq!([parsed.header_bytes, parsed.sealed].concat(), bytes);
        }
        Err(err) => assert_eq!(err, KmsError::InvalidCiphertext),
    }
}

/// The canonical encoding of an encryption context does not depend on the order of its pairs,
/// decodes back to exactly the pairs it came from (so no two contexts share an encoding), and
/// differs between `a` and `b` whenever their pairs differ. A key given twice keeps its first
/// value, as JSON decoding into a map would keep one of them.
pub fn encryption_context(a: &[(String, String)], b: &[(String, String)]) {
    let first = context_of(a);
    let second = context_of(b);
    for (pairs, context) in [(a, &first), (b, &second)] {
        let reversed: Vec<(String, String)> = first_values(pairs).into_iter().rev().collect();
        assert_eq!(
            context_of(&reversed).canonical_bytes(),
            context.canonical_bytes(),
            "pair order changed the encoding"
        );
        assert_eq!(
            decode_canonical(&context.canonical_bytes()).as_ref(),
            Some(context.pairs()),
            "the encoding does not decode back to its pairs"
        );
    }
    if first != second {
        assert_ne!(first.canonical_bytes(), second.canonical_bytes());
    }
}

/// `KeyRef::parse` returns without panicking on any input, fails only with
/// `NotFoundException`, accepts under `KeyOnly` a subset of what it accepts under `All`, and
/// a key it finds prints as a key ARN that parses back to the same key.
pub fn key_ref(input: &str, scope: &Scope) {
    let all = KeyRef::parse(input, scope, KeyRefForms::All);
    let key_only = KeyRef::parse(input, scope, KeyRefForms::KeyOnly);
    for result in [&all, &key_only] {
        if let Err(err) = result {
            assert!(
                matches!(err, KmsError::NotFound(_)),
                "{input:?} failed with {err:?}"
            );
        }
    }
    if let Ok(found) = &key_only {
        assert_eq!(all.as_ref().ok(), Some(found), "{input:?}");
    }
    match all {
        Ok(KeyRef::Key(arn)) => {
            let printed = arn.to_string();
            assert_eq!(
                KeyRef::parse(&printed, scope, KeyRefForms::KeyOnly),
                Ok(KeyRef::Key(arn)),
                "{printed:?} does not parse back"
            );
        }
        Ok(KeyRef::Alias(_, alias)) => assert!(alias.as_str().starts_with("alias/")),
        Ok(KeyRef::MultiRegion(arn)) => assert!(arn.starts_with("arn:aws:kms:"), "{arn:?}"),
        Err(_) => {}
    }
}

fn first_values(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut seen = BTreeMap::new();
    let mut kept = Vec::new();
    for (key, value) in pairs {
        if seen.insert(key.as_str(), ()).is_none() {
            kept.push((key.clone(), value.clone()));
        }
    }
    kept
}

fn context_of(pairs: &[(String, String)]) -> EncryptionContext {
    EncryptionContext::new(first_values(pairs).into_iter().collect())
}

/// The inverse of `EncryptionContext::canonical_bytes`, refusing trailing bytes; `None` for
/// bytes that are not an encoding.
fn decode_canonical(mut bytes: &[u8]) -> Option<BTreeMap<String, String>> {
    let mut pairs = BTreeMap::new();
    if bytes.is_empty() {
        return Some(pairs);
    }
    let count = take_u32(&mut bytes)?;
    for _ in 0..count {
        let key = take_string(&mut bytes)?;
        let value = take_string(&mut bytes)?;
        pairs.insert(key, value);
    }
    bytes.is_empty().then_some(pairs)
}

fn take_u32(bytes: &mut &[u8]) -> Option<u32> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    *bytes = rest;
    Some(u32::from_be_bytes(*head))
}

fn take_string(bytes: &mut &[u8]) -> Option<String> {
    let len = usize::try_from(take_u32(bytes)?).ok()?;
    let (text, rest) = bytes.split_at_checked(len)?;
    *bytes = rest;
    String::from_utf8(text.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::blob::{BlobHeader, NONCE_LEN};
    use crate::id::KeyId;

    fn scope() -> Scope {
        Scope {
            account: "111122223333".parse().unwrap(),
            region: "us-east-1".parse().unwrap(),
        }
    }

    /// Key identifiers in every shape `KeyRef::parse` distinguishes, with pieces swapped for
    /// near misses.
    fn key_identifier() -> impl Strategy<Value = String> {
        let id = prop_oneof![
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[0-9a-fA-F-]{30,40}",
            "mrk-[0-9a-f]{30,34}",
        ];
        let resource = prop_oneof![
            id.clone().prop_map(|id| format!("key/{id}")),
            "alias/[a-zA-Z0-9/_:-]{0,12}",
            ".{0,12}",
        ];
        let arn = (
            prop_oneof!["aws", "aws-cn", ""],
            prop_oneof!["kms", "iam"],
            prop_oneof!["us-east-1", "eu-west-1", "US-EAST-1", ""],
            prop_oneof!["111122223333", "444455556666", "1111", ""],
            resource,
        )
            .prop_map(|(p, s, r, a, res)| format!("arn:{p}:{s}:{r}:{a}:{res}"));
        prop_oneof![id, arn, "alias/.{0,10}", ".{0,60}", "[:/a-z0-9-]{0,60}"]
    }

    fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
        prop::collection::vec(("[a-c]{0,3}|.{0,6}", "[a-c]{0,3}|.{0,6}"), 0..5)
    }

    proptest! {
        #[test]
        fn any_bytes_parse_as_a_blob_or_are_invalid_ciphertext(
            bytes in prop::collection::vec(any::<u8>(), 0..200),
        ) {
            blob_parse(&bytes);
        }

        #[test]
        fn a_well_formed_header_with_any_byte_changed_parses_as_itself_or_not_at_all(
            key in any::<[u8; 16]>(),
            version in any::<u32>(),
            nonce in any::<[u8; NONCE_LEN]>(),
            sealed in prop::collection::vec(any::<u8>(), 0..40),
            index in any::<prop::sample::Index>(),
            mask in 1u8..,
        ) {
            let header = BlobHeader { key_id: KeyId::from_bytes(key), version, nonce };
            let mut bytes = [&header.encode()[..], &sealed].concat();
            blob_parse(&bytes);
            let i = index.index(HEADER_LEN);
            bytes[i] ^= mask;
            blob_parse(&bytes);
            prop_assert_eq!(blob::parse(&bytes).unwrap_err(), KmsError::InvalidCiphertext);
        }

        #[test]
        fn context_encodings_are_order_free_and_injective(a in pairs(), b in pairs()) {
            encryption_context(&a, &b);
        }

        #[test]
        fn key_identifiers_parse_consistently(input in key_identifier()) {
            key_ref(&input, &scope());
        }
    }

    #[test]
    fn contexts_differing_only_in_pair_boundaries_both_decode() {
        let pairs = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        encryption_context(&pairs("ab", "c"), &pairs("a", "bc"));
        encryption_context(&pairs("", ""), &[]);
    }

    #[test]
    fn the_canonical_decoder_refuses_trailing_and_truncated_bytes() {
        let encoded = EncryptionContext::new([("k".into(), "v".into())].into()).canonical_bytes();
        assert_eq!(
            decode_canonical(&encoded),
            Some([("k".to_owned(), "v".to_owned())].into())
        );
        assert_eq!(decode_canonical(&[&encoded[..], &[0]].concat()), None);
        assert_eq!(decode_canonical(&encoded[..encoded.len() - 1]), None);
    }
}
