//! Tags on keys, and the rules TagResource, UntagResource and CreateKey apply to them beyond
//! the model's lengths (behaviour reference, section 5.2).

use std::collections::HashSet;

use crate::error::KmsError;

/// Tags one key may carry (AWS KMS resource quota).
pub const MAX_TAGS_PER_KEY: u32 = 50;

/// Tag keys beginning with this, in any case, belong to AWS.
const RESERVED_PREFIX: &[u8] = b"aws:";

/// One tag: a case-sensitive key, unique on its key, and a value that may be empty.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// Checks the tags one TagResource or CreateKey request adds: no reserved key, no key twice,
/// and no more than a key may carry. Whether the key's existing tags leave room is the store's
/// to decide, under the key's lock.
pub fn check_new_tags(tags: &[Tag]) -> Result<(), KmsError> {
    if tags.iter().any(|tag| is_reserved(&tag.key)) {
        return Err(reserved());
    }
    let mut keys = HashSet::with_capacity(tags.len());
    if !tags.iter().all(|tag| keys.insert(tag.key.as_str())) {
        return Err(KmsError::Tag("Duplicate tag keys".to_owned()));
    }
    if tags.len() > MAX_TAGS_PER_KEY as usize {
        return Err(too_many_tags());
    }
    Ok(())
}

/// Checks the tag keys one UntagResource request removes: reserved keys are AWS's to remove.
/// Naming a key twice, or a key the KMS key does not carry, is harmless.
pub fn check_tag_keys_to_remove(keys: &[String]) -> Result<(), KmsError> {
    if keys.iter().any(|key| is_reserved(key)) {
        return Err(reserved());
    }
    Ok(())
}

/// `TagException` for a change that would leave a key with more than [`MAX_TAGS_PER_KEY`] tags.
pub fn too_many_tags() -> KmsError {
    KmsError::Tag("Too many tags".to_owned())
}

fn is_reserved(key: &str) -> bool {
    key.as_bytes()
        .get(..RESERVED_PREFIX.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(RESERVED_PREFIX))
}

fn reserved() -> KmsError {
    KmsError::Tag("Tags beginning with aws: are reserved".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: key.to_owned(),
            value: value.to_owned(),
        }
    }

    fn tags(count: usize) -> Vec<Tag> {
        (0..count)
            .map(|i| tag(&format!("key-{i:02}"), ""))
            .collect()
    }

    #[test]
    fn distinct_unreserved_tags_up_to_the_quota_pass() {
        assert_eq!(check_new_tags(&tags(50)), Ok(()));
        assert_eq!(check_new_tags(&[]), Ok(()));
    }

    #[test]
    fn one_tag_over_the_quota_is_too_many() {
        assert_eq!(
            check_new_tags(&tags(51)),
            Err(KmsError::Tag("Too many tags".to_owned()))
        );
    }

    #[test]
    fn keys_beginning_with_aws_in_any_case_are_reserved() {
        for key in ["aws:team", "AWS:team", "Aws:", "aWs:cost-center"] {
            assert_eq!(
                check_new_tags(&[tag(key, "x")]),
                Err(KmsError::Tag(
                    "Tags beginning with aws: are reserved".to_owned()
                )),
                "{key}"
            );
        }
        for key in ["aws", "awsome:x", "team:aws:", "é:aws", "a"] {
            assert_eq!(check_new_tags(&[tag(key, "aws:value")]), Ok(()), "{key}");
        }
    }

    #[test]
    fn a_key_twice_is_a_duplicate_but_keys_differing_in_case_are_not() {
        assert_eq!(
            check_new_tags(&[tag("team", "a"), tag("env", "b"), tag("team", "a")]),
            Err(KmsError::Tag("Duplicate tag keys".to_owned()))
        );
        assert_eq!(
            check_new_tags(&[tag("team", "a"), tag("Team", "a")]),
            Ok(())
        );
    }

    #[test]
    fn removing_reserved_keys_is_refused_and_duplicates_are_harmless() {
        assert_eq!(
            check_tag_keys_to_remove(&["team".to_owned(), "AWS:x".to_owned()]),
            Err(KmsError::Tag(
                "Tags beginning with aws: are reserved".to_owned()
            ))
        );
        assert_eq!(
            check_tag_keys_to_remove(&["team".to_owned(), "team".to_owned()]),
            Ok(())
        );
    }
}
