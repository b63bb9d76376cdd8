//! Wildcard matching as IAM policies use it: `*` matches any run of characters, `?` exactly one,
//! in actions, resources and the `Like` and `Arn` condition operators.

/// Whether `text` matches `pattern`, every other character of the pattern standing for itself.
/// With `ignore_ascii_case`, ASCII letters match either case (action names).
pub(crate) fn matches(pattern: &str, text: &str, ignore_ascii_case: bool) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        let same = |p: u8, t: u8| p == t || (ignore_ascii_case && p.eq_ignore_ascii_case(&t));
        return matches_slices(pattern.as_bytes(), text.as_bytes(), b'*', b'?', same);
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let same = |p: char, t: char| p == t || (ignore_ascii_case && p.eq_ignore_ascii_case(&t));
    matches_slices(&pattern, &text, '*', '?', same)
}

/// The matcher over characters (or bytes, for ASCII): a greedy scan that remembers the last `*`
/// and retries one character further on a mismatch, so it is never exponential.
fn matches_slices<T: Copy + PartialEq>(
    pattern: &[T],
    text: &[T],
    star: T,
    one: T,
    same: impl Fn(T, T) -> bool,
) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut retry: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(&c) if c == star => {
                retry = Some((p, t));
                p += 1;
            }
            Some(&c) if c == one || same(c, text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match retry {
                Some((star_at, start)) => {
                    p = star_at + 1;
                    t = start + 1;
                    retry = Some((star_at, start + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == star)
}

/// ARN matching (IAM JSON policy reference, "Amazon Resource Name (ARN) condition operators"):
/// case-sensitive, each of the six colon-separated parts matched on its own, so a wildcard never
/// spans a colon before the resource part. A pattern or value that is not six parts long is
/// matched as a whole string.
pub(crate) fn matches_arn(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let patterns: Vec<&str> = pattern.splitn(6, ':').collect();
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if patterns.len() != 6 || parts.len() != 6 {
        return matches(pattern, arn, false);
    }
    patterns
        .iter()
        .zip(&parts)
        .all(|(pattern, part)| matches(pattern, part, false))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn stars_and_question_marks_match_as_iam_documents() {
        let cases = [
            ("kms:*", "kms:Encrypt", true),
            (
                "kms:GenerateDataKey*",
                "kms:GenerateDataKeyPairWithoutPlaintext",
                true,
            ),
            ("kms:GenerateDataKey*", "kms:Encrypt", false),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*a*b*c", "xaybzc", true),
            ("*a*b*c", "xaybzcd", false),
            ("a**", "a", true),
            ("alias/fin*", "alias/finance", true),
            ("alias/fin*", "alias/Finance", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                matches(pattern, text, false),
                expected,
                "{pattern} ~ {text}"
            );
        }
    }

    #[test]
    fn a_question_mark_matches_one_character_beyond_ascii() {
        assert!(matches("caf?", "café", false));
        assert!(matches("*é", "café", false));
        assert!(!matches("caf??", "café", false));
    }

    #[test]
    fn action_matching_ignores_ascii_case() {
        assert!(matches("KMS:encrypt", "kms:Encrypt", true));
        assert!(matches("kms:re*", "kms:ReEncryptFrom", true));
        assert!(!matches("KMS:encrypt", "kms:Encrypt", false));
    }

    #[test]
    fn arn_wildcards_stay_within_their_part() {
        let key = "arn:aws:kms:us-east-1:111122223333:key/1234";
        assert!(matches_arn("*", key));
        assert!(matches_arn("arn:aws:kms:*:111122223333:key/*", key));
        assert!(matches_arn("arn:aws:kms:us-east-?:*:*", key));
        assert!(!matches_arn("arn:aws:kms:*:444455556666:key/*", key));
        // Each part is matched on its own: `key/*` in the account part matches no account.
        assert!(!matches_arn("arn:aws:kms:*:key/*:*", key));
        assert!(matches_arn(
            "arn:aws:iam::111122223333:role/*",
            "arn:aws:iam::111122223333:role/path/app"
        ));
        assert!(!matches_arn(
            "arn:aws:iam::111122223333:role/*",
            "arn:aws:iam::111122223333:user/alice"
        ));
    }

    proptest! {
        #[test]
        fn a_star_in_place_of_any_run_still_matches(
            text in "[a-zA-Zé:/*?-]{0,12}",
            start in 0usize..13,
            len in 0usize..13,
        ) {
            let chars: Vec<char> = text.chars().collect();
            let start = start.min(chars.len());
            let end = (start + len).min(chars.len());
            let escaped = |part: &[char]| -> String {
                part.iter().map(|&c| if c == '*' || c == '?' { '?' } else { c }).collect()
            };
            let pattern = format!("{}*{}", escaped(&chars[..start]), escaped(&chars[end..]));
            prop_assert!(matches(&pattern, &text, false));
        }

        #[test]
        fn a_pattern_without_wildcards_matches_only_itself(
            pattern in "[a-z:/]{0,8}",
            text in "[a-z:/]{0,8}",
        ) {
            prop_assert_eq!(matches(&pattern, &text, false), pattern == text);
        }
    }
}
