//! Model validation: the length, range, pattern, enum and required-member constraints of the
//! KMS API model, reported in the `N validation error(s) detected: ...` form AWS uses.

use crate::error::KmsError;

/// Collects constraint violations for one request, in the order the members are checked.
#[derive(Debug, Default)]
pub struct Violations {
    clauses: Vec<String>,
}

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// A required member that is absent.
    pub fn required<T: ?Sized>(&mut self, path: &str, value: Option<&T>) {
        if value.is_none() {
            self.push_clause(format!(
                "Value null at '{path}' failed to satisfy constraint: Member must not be null"
            ));
        }
    }

    /// String length in characters (the model counts characters, not bytes).
    pub fn length(&mut self, path: &str, value: Option<&str>, min: usize, max: usize) {
        let Some(value) = value else { return };
        let len = value.chars().count();
        if len < min {
            self.clause(
                path,
                Some(value),
                &format!("have length greater than or equal to {min}"),
            );
        } else if len > max {
            self.clause(
                path,
                Some(value),
                &format!("have length less than or equal to {max}"),
            );
        }
    }

    /// Blob length in bytes. Blobs are never echoed back.
    pub fn blob_length(&mut self, path: &str, value: Option<&[u8]>, min: usize, max: usize) {
        let Some(value) = value else { return };
        if value.len() < min {
            self.clause(
                path,
                None,
                &format!("have length greater than or equal to {min}"),
            );
        } else if value.len() > max {
            self.clause(
                path,
                None,
                &format!("have length less than or equal to {max}"),
            );
        }
    }

    /// List length in members.
    pub fn list_length<T>(&mut self, path: &str, value: Option<&[T]>, min: usize, max: usize) {
        let Some(value) = value else { return };
        let shown = format!("[{}]", value.len());
        if value.len() < min {
            self.clause(
                path,
                Some(&shown),
                &format!("have length greater than or equal to {min}"),
            );
        } else if value.len() > max {
            self.clause(
                path,
                Some(&shown),
                &format!("have length less than or equal to {max}"),
            );
        }
    }

    /// Integer range.
    pub fn range(&mut self, path: &str, value: Option<i64>, min: i64, max: i64) {
        let Some(value) = value else { return };
        let shown = value.to_string();
        if value < min {
            self.clause(
                path,
                Some(&shown),
                &format!("have value greater than or equal to {min}"),
            );
        } else if value > max {
            self.clause(
                path,
                Some(&shown),
                &format!("have value less than or equal to {max}"),
            );
        }
    }

    /// Membership of an enum's value set.
    pub fn one_of(&mut self, path: &str, value: Option<&str>, values: &[&str]) {
        let Some(value) = value else { return };
        if !values.contains(&value) {
            let set = values.join(", ");
            self.clause(
                path,
                Some(value),
                &format!("satisfy enum value set: [{set}]"),
            );
        }
    }

    /// A character-class pattern such as `^[a-zA-Z0-9:/_-]+$`, given as a predicate over each
    /// character and the pattern text to quote.
    pub fn pattern(
        &mut self,
        path: &str,
        value: Option<&str>,
        pattern: &str,
        allowed: impl Fn(char) -> bool,
    ) {
        let Some(value) = value else { return };
        if !value.chars().all(allowed) {
            self.clause(
                path,
                Some(value),
                &format!("satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    /// The outcome: `Ok` when nothing was violated, else one `ValidationException` listing
    /// every clause.
    pub fn finish(self) -> Result<(), KmsError> {
        match self.clauses.len() {
            0 => Ok(()),
            n => {
                let noun = if n == 1 { "error" } else { "errors" };
                Err(KmsError::Validation(format!(
                    "{n} validation {noun} detected: {}",
                    self.clauses.join("; ")
                )))
            }
        }
    }

    fn clause(&mut self, path: &str, value: Option<&str>, constraint: &str) {
        let value = match value {
            Some(v) => format!("Value '{v}' at"),
            None => "Value at".to_owned(),
        };
        self.push_clause(format!(
            "{value} '{path}' failed to satisfy constraint: Member must {constraint}"
        ));
    }

    fn push_clause(&mut self, clause: String) {
        self.clauses.push(clause);
    }
}

/// The `[\u0020-\u00FF]` class of `MarkerType` and, with tab and line breaks, `PolicyType`.
pub fn is_latin1_printable(c: char) -> bool {
    ('\u{20}'..='\u{ff}').contains(&c)
}

/// The `^[a-zA-Z0-9:/_-]+$` class of `AliasNameType`.
pub fn is_alias_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(v: Violations) -> String {
        match v.finish() {
            Err(KmsError::Validation(m)) => m,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn no_violation_is_ok() {
        let mut v = Violations::new();
        v.range("numberOfBytes", Some(1024), 1, 1024);
        v.length("keyId", Some("k"), 1, 2048);
        assert_eq!(v.finish(), Ok(()));
    }

    #[test]
    fn a_range_violation_reads_as_aws_writes_it() {
        let mut v = Violations::new();
        v.range("numberOfBytes", Some(1025), 1, 1024);
        assert_eq!(
            message(v),
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy \
             constraint: Member must have value less than or equal to 1024"
        );
    }

    #[test]
    fn sensitive_blobs_are_not_echoed() {
        let mut v = Violations::new();
        v.blob_length("plaintext", Some(&[0u8; 4097]), 1, 4096);
        assert_eq!(
            message(v),
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: \
             Member must have length less than or equal to 4096"
        );
    }

    #[test]
    fn several_violations_are_joined_and_counted() {
        let mut v = Violations::new();
        v.length("keyId", Some(""), 1, 2048);
        v.one_of("keySpec", Some("AES_512"), &["AES_256", "AES_128"]);
        assert_eq!(
            message(v),
            "2 validation errors detected: Value '' at 'keyId' failed to satisfy constraint: \
             Member must have length greater than or equal to 1; Value 'AES_512' at 'keySpec' \
             failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"
        );
    }

    #[test]
    fn a_missing_required_member_is_null() {
        let mut v = Violations::new();
        v.required::<String>("keyId", None);
        assert_eq!(
            message(v),
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: \
             Member must not be null"
        );
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let mut v = Violations::new();
        v.length("description", Some("ééé"), 0, 3);
        assert_eq!(v.finish(), Ok(()));
    }
}
