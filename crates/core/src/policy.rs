//! Key policies as documents: the default policy CreateKey attaches, the policy names, and the
//! checks CreateKey and PutKeyPolicy apply before a policy is stored (behaviour reference,
//! sections 4.1 and 5.4). Keyshard stores policies; it does not evaluate them yet.

use serde_json::{Map, Value};

use crate::error::KmsError;
use crate::id::AccountId;

/// The name of the one key policy a caller manages.
pub const DEFAULT_POLICY_NAME: &str = "default";

/// The name of the key policy AWS Resource Access Manager manages for shared keys.
pub const RAM_POLICY_NAME: &str = "AWS_RAM";

/// The key policy size quota, in bytes (AWS KMS quotas: 32 KB), narrower than the model's
/// `PolicyType` length.
pub const MAX_POLICY_BYTES: usize = 32_768;

// The default key policy is these two pieces around the account id, byte for byte as AWS
// returns it (AWS KMS Developer Guide, "Default key policy").
const DEFAULT_POLICY_HEAD: &str = r#"{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::"#;
const DEFAULT_POLICY_TAIL: &str = r#":root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}"#;

/// The policy a key created without `Policy` gets: the account's root principal may do
/// everything, which leaves access to IAM policies.
pub fn default_key_policy(account: &AccountId) -> String {
    format!("{DEFAULT_POLICY_HEAD}{account}{DEFAULT_POLICY_TAIL}")
}

/// `ValidationException` for PutKeyPolicy with the RAM policy's name (AWS KMS API Reference,
/// PutKeyPolicy: PolicyName).
pub fn check_put_policy_name(name: &str) -> Result<(), KmsError> {
    if name == RAM_POLICY_NAME {
        return Err(KmsError::Validation(
            "The AWS_RAM policy can only be managed by the RAM service.".to_owned(),
        ));
    }
    Ok(())
}

/// Checks a key policy before it is stored: the size quota, then the document's shape. Every
/// statement needs an `Effect` of `Allow` or `Deny`, an `Action` or `NotAction`, a `Resource`
/// and a well-formed `Principal` or `NotPrincipal`. Whether the principals exist is not checked.
pub fn check_key_policy(text: &str) -> Result<(), KmsError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(KmsError::LimitExceeded(format!(
            "The key policy is {} bytes long; the limit is {MAX_POLICY_BYTES} bytes.",
            text.len()
        )));
    }
    let Ok(document) = serde_json::from_str::<Value>(text) else {
        return Err(malformed("The key policy is not valid JSON."));
    };
    let Value::Object(document) = document else {
        return Err(malformed("The key policy must be a JSON object."));
    };
    let statements = match document.get("Statement") {
        Some(Value::Array(list)) if !list.is_empty() => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => {
            return Err(malformed(
                "The key policy must have a Statement: an object or a non-empty list of objects.",
            ));
        }
    };
    for statement in statements {
        let Value::Object(statement) = statement else {
            return Err(malformed(
                "Policy contains a statement that is not a JSON object.",
            ));
        };
        check_statement(statement)?;
    }
    Ok(())
}

fn check_statement(statement: &Map<String, Value>) -> Result<(), KmsError> {
    let effect = statement.get("Effect").and_then(Value::as_str);
    if !matches!(effect, Some("Allow" | "Deny")) {
        return Err(malformed(
            "Policy contains a statement without a valid Effect: it must be Allow or Deny.",
        ));
    }

    let action = match (statement.get("Action"), statement.get("NotAction")) {
        (Some(action), None) | (None, Some(action)) => string_list(action),
        _ => None,
    };
    if action.is_none() {
        return Err(malformed(
            "Policy contains a statement without exactly one of Action and NotAction, given as \
             a string or a list of strings.",
        ));
    }
    if statement.get("Resource").and_then(string_list).is_none() {
        return Err(malformed(
            "Policy contains a statement without a Resource, given as a string or a list of \
             strings.",
        ));
    }

    let principal = match (statement.get("Principal"), statement.get("NotPrincipal")) {
        (Some(principal), None) | (None, Some(principal)) => principal,
        (None, None) => return Err(malformed("Policy contains a statement with no principal.")),
        (Some(_), Some(_)) => return Err(invalid_principals()),
    };
    if !is_well_formed_principal(principal) {
        return Err(invalid_principals());
    }
    Ok(())
}

/// `"*"`, or an object mapping `AWS`, `Service`, `Federated` or `CanonicalUser` to one
/// identifier or a list of them (IAM JSON policy reference, "Principal").
fn is_well_formed_principal(principal: &Value) -> bool {
    match principal {
        Value::String(any) => any == "*",
        Value::Object(kinds) => {
            !kinds.is_empty()
                && kinds.iter().all(|(kind, ids)| {
                    let well_formed: fn(&str) -> bool = match kind.as_str() {
                        "AWS" => is_aws_principal,
                        "Service" | "Federated" | "CanonicalUser" => is_named_principal,
                        _ => return false,
                    };
                    string_list(ids).is_some_and(|ids| ids.into_iter().all(well_formed))
                })
        }
        _ => false,
    }
}

/// `*`, a 12-digit account id, or an IAM or STS ARN in some account:
/// `arn:<partition>:iam::<account>:<resource>`.
fn is_aws_principal(id: &str) -> bool {
    if id == "*" || id.parse::<AccountId>().is_ok() {
        return true;
    }
    let mut parts = id.splitn(6, ':');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (
            Some("arn"),
            Some(partition),
            Some("iam" | "sts"),
            Some(""),
            Some(account),
            Some(resource),
        ) => !partition.is_empty() && account.parse::<AccountId>().is_ok() && !resource.is_empty(),
        _ => false,
    }
}

/// A service name, identity provider or canonical user id: one word, not empty.
fn is_named_principal(id: &str) -> bool {
    !id.is_empty() && !id.chars().any(char::is_whitespace)
}

/// A non-empty string, or a non-empty list of them.
fn string_list(value: &Value) -> Option<Vec<&str>> {
    let items = match value {
        Value::String(one) => vec![one.as_str()],
        Value::Array(list) => list.iter().map(Value::as_str).collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    (!items.is_empty() && items.iter().all(|item| !item.is_empty())).then_some(items)
}

fn malformed(message: &str) -> KmsError {
    KmsError::MalformedPolicyDocument(message.to_owned())
}

fn invalid_principals() -> KmsError {
    malformed("Policy contains a statement with one or more invalid principals.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> AccountId {
        "111122223333".parse().unwrap()
    }

    fn message(text: &str) -> String {
        match check_key_policy(text) {
            Err(KmsError::MalformedPolicyDocument(m)) => m,
            other => panic!("expected a malformed policy for {text}, got {other:?}"),
        }
    }

    /// A one-statement policy with `statement` spliced into the statement object.
    fn with_statement(statement: &str) -> String {
        format!(r#"{{"Version": "2012-10-17", "Statement": [{{{statement}}}]}}"#)
    }

    const ALLOW_ALL: &str = r#""Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*""#;

    #[test]
    fn the_default_policy_is_the_documented_text_for_the_account() {
        assert_eq!(
            default_key_policy(&account()),
            "{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \
             \"Statement\" : [ {\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \
             \"Effect\" : \"Allow\",\n    \"Principal\" : {\n      \
             \"AWS\" : \"arn:aws:iam::111122223333:root\"\n    },\n    \
             \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  } ]\n}"
        );
    }

    #[test]
    fn the_default_policy_passes_its_own_checks() {
        assert_eq!(check_key_policy(&default_key_policy(&account())), Ok(()));
    }

    #[test]
    fn well_formed_policies_pass() {
        let policies = [
            with_statement(ALLOW_ALL),
            with_statement(
                r#""Effect": "Deny", "NotPrincipal": {"AWS": ["111122223333", "arn:aws:sts::111122223333:assumed-role/admin/alice"]}, "NotAction": ["kms:Decrypt", "kms:Encrypt"], "Resource": ["*"]"#,
            ),
            with_statement(
                r#""Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*", "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333"}}"#,
            ),
            with_statement(
                r#""Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com", "AWS": "*"}, "Action": "kms:*", "Resource": "*""#,
            ),
            // A single statement may stand without a list.
            format!(r#"{{"Statement": {{{ALLOW_ALL}}}}}"#),
        ];
        for policy in policies {
            assert_eq!(check_key_policy(&policy), Ok(()), "{policy}");
        }
    }

    #[test]
    fn a_policy_over_32_kib_exceeds_the_limit_and_one_at_it_does_not() {
        let statement = format!("{{{ALLOW_ALL}}}");
        let mut policy = format!(r#"{{"Statement": [{statement}"#);
        while policy.len() + 2 + statement.len() < MAX_POLICY_BYTES {
            policy.push_str(&format!(",{statement}"));
        }
        policy.push_str("]}");
        let padding = MAX_POLICY_BYTES - policy.len();
        let at_limit = format!("{}{policy}", " ".repeat(padding));
        assert_eq!(at_limit.len(), MAX_POLICY_BYTES);
        assert_eq!(check_key_policy(&at_limit), Ok(()));

        let over = format!(" {at_limit}");
        assert_eq!(
            check_key_policy(&over),
            Err(KmsError::LimitExceeded(
                "The key policy is 32769 bytes long; the limit is 32768 bytes.".to_owned()
            ))
        );
    }

    #[test]
    fn documents_that_are_not_json_objects_are_malformed() {
        assert_eq!(message("not json"), "The key policy is not valid JSON.");
        assert_eq!(
            message("{\"Statement\": ["),
            "The key policy is not valid JSON."
        );
        assert_eq!(message("[]"), "The key policy must be a JSON object.");
        assert_eq!(
            message("\"policy\""),
            "The key policy must be a JSON object."
        );
    }

    #[test]
    fn a_missing_empty_or_mistyped_statement_is_malformed() {
        let expected =
            "The key policy must have a Statement: an object or a non-empty list of objects.";
        for policy in [
            r#"{"Version": "2012-10-17"}"#,
            r#"{"Statement": []}"#,
            r#"{"Statement": "Allow"}"#,
        ] {
            assert_eq!(message(policy), expected, "{policy}");
        }
        assert_eq!(
            message(r#"{"Statement": ["Allow"]}"#),
            "Policy contains a statement that is not a JSON object."
        );
    }

    #[test]
    fn a_statement_without_a_valid_effect_is_malformed() {
        let principal = r#""Principal": "*", "Action": "kms:*", "Resource": "*""#;
        for effect in ["", r#""Effect": "allow","#, r#""Effect": true,"#] {
            assert_eq!(
                message(&with_statement(&format!("{effect} {principal}"))),
                "Policy contains a statement without a valid Effect: it must be Allow or Deny."
            );
        }
    }

    #[test]
    fn a_statement_without_exactly_one_action_element_is_malformed() {
        let expected = "Policy contains a statement without exactly one of Action and NotAction, \
                        given as a string or a list of strings.";
        let rest = r#""Effect": "Allow", "Principal": "*", "Resource": "*""#;
        for action in [
            "",
            r#""Action": [],"#,
            r#""Action": "","#,
            r#""Action": 7,"#,
            r#""Action": "kms:*", "NotAction": "kms:Decrypt","#,
        ] {
            assert_eq!(
                message(&with_statement(&format!("{action} {rest}"))),
                expected,
                "{action}"
            );
        }
    }

    #[test]
    fn a_statement_without_a_resource_is_malformed() {
        let expected = "Policy contains a statement without a Resource, given as a string or a \
                        list of strings.";
        let rest = r#""Effect": "Allow", "Principal": "*", "Action": "kms:*""#;
        for resource in ["", r#""NotResource": "*","#, r#""Resource": {"a": 1},"#] {
            assert_eq!(
                message(&with_statement(&format!("{resource} {rest}"))),
                expected,
                "{resource}"
            );
        }
    }

    #[test]
    fn a_statement_without_a_principal_says_so() {
        assert_eq!(
            message(&with_statement(
                r#""Effect": "Allow", "Action": "kms:*", "Resource": "*""#
            )),
            "Policy contains a statement with no principal."
        );
    }

    #[test]
    fn ill_formed_principals_are_invalid() {
        let rest = r#""Effect": "Allow", "Action": "kms:*", "Resource": "*""#;
        for principal in [
            r#""Principal": "alice""#,
            r#""Principal": {}"#,
            r#""Principal": {"AWS": []}"#,
            r#""Principal": {"AWS": "alice"}"#,
            r#""Principal": {"AWS": "1111"}"#,
            r#""Principal": {"AWS": "arn:aws:iam::111122223333:"}"#,
            r#""Principal": {"AWS": "arn:aws:iam:us-east-1:111122223333:root"}"#,
            r#""Principal": {"AWS": "arn:aws:kms::111122223333:root"}"#,
            r#""Principal": {"AWS": ["arn:aws:iam::111122223333:root", 5]}"#,
            r#""Principal": {"Service": "logs amazonaws"}"#,
            r#""Principal": {"Human": "alice"}"#,
            r#""Principal": ["*"]"#,
            r#""Principal": "*", "NotPrincipal": "*""#,
        ] {
            assert_eq!(
                message(&with_statement(&format!("{rest}, {principal}"))),
                "Policy contains a statement with one or more invalid principals.",
                "{principal}"
            );
        }
    }

    #[test]
    fn only_the_ram_policy_name_is_refused_for_put() {
        assert_eq!(
            check_put_policy_name("AWS_RAM"),
            Err(KmsError::Validation(
                "The AWS_RAM policy can only be managed by the RAM service.".to_owned()
            ))
        );
        assert_eq!(check_put_policy_name("default"), Ok(()));
        assert_eq!(check_put_policy_name("aws_ram"), Ok(()));
    }
}
