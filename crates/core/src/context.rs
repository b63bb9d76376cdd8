//! Encryption context: the caller's string map bound to a ciphertext as authenticated data,
//! and its canonical byte encoding.

use std::collections::BTreeMap;

/// An encryption context. Pairs are kept sorted by key, so two contexts with the same pairs
/// encode to the same bytes whatever order the caller sent them in.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    pub fn new(pairs: BTreeMap<String, String>) -> Self {
        Self(pairs)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn pairs(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// The canonical encoding bound into a ciphertext: the pair count, then each pair in key
    /// order as a length-prefixed key and a length-prefixed value (lengths are big-endian u32
    /// byte counts). Length prefixes make the encoding injective, so `{"ab":"c"}` and
    /// `{"a":"bc"}` differ; an empty context encodes to no bytes, as AWS treats `{}` as absent.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        if self.0.is_empty() {
            return Vec::new();
        }
        let size = 4 + self
            .0
            .iter()
            .map(|(k, v)| 8 + k.len() + v.len())
            .sum::<usize>();
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(&len_prefix(self.0.len()));
        for (key, value) in &self.0 {
            out.extend_from_slice(&len_prefix(key.len()));
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(&len_prefix(value.len()));
            out.extend_from_slice(value.as_bytes());
        }
        out
    }
}

fn len_prefix(len: usize) -> [u8; 4] {
    // Request bodies are capped far below 4 GiB, so every length fits; saturate rather than wrap.
    u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        EncryptionContext::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn pair_boundaries_are_part_of_the_encoding() {
        assert_ne!(
            ctx(&[("ab", "c")]).canonical_bytes(),
            ctx(&[("a", "bc")]).canonical_bytes()
        );
    }

    #[test]
    fn an_empty_context_encodes_to_nothing() {
        assert_eq!(ctx(&[]).canonical_bytes(), Vec::<u8>::new());
    }

    #[test]
    fn the_encoding_is_fixed() {
        assert_eq!(
            ctx(&[("k", "v")]).canonical_bytes(),
            [0, 0, 0, 1, 0, 0, 0, 1, b'k', 0, 0, 0, 1, b'v']
        );
    }
}
