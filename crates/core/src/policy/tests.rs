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

#[test]
fn the_parsed_default_policy_is_the_built_one() {
    assert_eq!(
        KeyPolicy::parse(&default_key_policy(&account())),
        Ok(KeyPolicy::default_for(&account()))
    );
}

#[test]
fn conditions_with_every_known_operator_parse() {
    let operators = [
        ("StringEquals", "\"a\""),
        ("StringNotEquals", "[\"a\", \"b\"]"),
        ("StringEqualsIgnoreCase", "\"a\""),
        ("StringNotEqualsIgnoreCase", "\"a\""),
        ("StringLike", "\"a*\""),
        ("StringNotLike", "\"a?\""),
        ("NumericEquals", "1"),
        ("NumericNotEquals", "\"1.5\""),
        ("NumericLessThan", "1"),
        ("NumericLessThanEquals", "1"),
        ("NumericGreaterThan", "1"),
        ("NumericGreaterThanEquals", "-1"),
        ("DateEquals", "\"2020-01-01T00:00:00Z\""),
        ("DateNotEquals", "\"2020-01-01T00:00:00Z\""),
        ("DateLessThan", "\"2020-01-01T00:00:00Z\""),
        ("DateLessThanEquals", "\"2020-01-01T00:00:00Z\""),
        ("DateGreaterThan", "\"2020-01-01T00:00:00Z\""),
        ("DateGreaterThanEquals", "\"2020-01-01T00:00:00Z\""),
        ("Bool", "true"),
        ("BinaryEquals", "\"QmluYXJ5\""),
        ("IpAddress", "\"10.0.0.0/8\""),
        ("NotIpAddress", "\"10.0.0.0/8\""),
        ("ArnEquals", "\"arn:aws:iam::111122223333:user/a\""),
        ("ArnLike", "\"arn:aws:iam::*:user/*\""),
        ("ArnNotEquals", "\"arn:aws:iam::111122223333:user/a\""),
        ("ArnNotLike", "\"arn:aws:iam::*:user/*\""),
        ("Null", "\"true\""),
        ("StringEqualsIfExists", "\"a\""),
        ("ForAnyValue:StringLike", "[\"a*\"]"),
        ("ForAllValues:StringEquals", "\"a\""),
        ("ForAllValues:ArnLikeIfExists", "\"arn:*\""),
    ];
    for (operator, values) in operators {
        let policy = with_statement(&format!(
            r#"{ALLOW_ALL}, "Condition": {{"{operator}": {{"kms:SomeKey": {values}}}}}"#
        ));
        assert_eq!(check_key_policy(&policy), Ok(()), "{policy}");
    }
    let empty = with_statement(&format!(r#"{ALLOW_ALL}, "Condition": {{}}"#));
    assert_eq!(check_key_policy(&empty), Ok(()));
}

#[test]
fn unknown_condition_operators_are_malformed() {
    for operator in [
        "StringEqual",
        "stringequals",
        "ForAnyValue:Null",
        "NullIfExists",
        "ForSomeValues:StringEquals",
        "IfExists",
    ] {
        let policy = with_statement(&format!(
            r#"{ALLOW_ALL}, "Condition": {{"{operator}": {{"kms:CallerAccount": "1"}}}}"#
        ));
        assert_eq!(
            message(&policy),
            format!("Policy contains a statement with an unknown condition operator: {operator}."),
        );
    }
}

#[test]
fn ill_formed_conditions_are_malformed() {
    let expected = "Policy contains a statement whose Condition is not an object of condition \
                    operators, each mapping condition keys to a value or a list of values.";
    for condition in [
        r#""StringEquals""#,
        r#"["StringEquals"]"#,
        r#"{"StringEquals": "kms:CallerAccount"}"#,
        r#"{"StringEquals": {"kms:CallerAccount": []}}"#,
        r#"{"StringEquals": {"kms:CallerAccount": null}}"#,
        r#"{"StringEquals": {"kms:CallerAccount": {"a": "b"}}}"#,
        r#"{"StringEquals": {"kms:CallerAccount": ["1", ["2"]]}}"#,
        r#"{"StringEquals": {"": "1"}}"#,
    ] {
        let policy = with_statement(&format!(r#"{ALLOW_ALL}, "Condition": {condition}"#));
        assert_eq!(message(&policy), expected, "{condition}");
    }
}

#[test]
fn condition_values_must_suit_their_operator() {
    for (operator, value) in [
        ("NumericLessThan", "\"ten\""),
        ("NumericEquals", "true"),
        ("Bool", "\"yes\""),
        ("Null", "\"maybe\""),
    ] {
        let policy = with_statement(&format!(
            r#"{ALLOW_ALL}, "Condition": {{"{operator}": {{"aws:Key": {value}}}}}"#
        ));
        assert_eq!(
            message(&policy),
            format!(
                "Policy contains a statement with a condition value that {operator} cannot \
                 compare."
            )
        );
    }
}

#[test]
fn a_statement_with_both_resource_and_not_resource_is_malformed() {
    assert_eq!(
        message(&with_statement(&format!(
            r#"{ALLOW_ALL}, "NotResource": "arn:aws:kms:*:*:key/*""#
        ))),
        "Policy contains a statement with both Resource and NotResource."
    );
}

#[test]
fn a_stored_policy_keeps_every_statement_but_those_failing_condition_checks() {
    let policy = format!(
        r#"{{"Statement": [{{{ALLOW_ALL}}}, {{{ALLOW_ALL}, "Condition": {{"Bool": "x"}}}},
            {{{ALLOW_ALL}, "NotResource": "*"}}]}}"#
    );
    let stored = KeyPolicy::parse_stored(&policy).unwrap();
    assert_eq!(stored.statements.len(), 1);
    assert_eq!(
        stored,
        KeyPolicy::parse(&with_statement(ALLOW_ALL)).unwrap()
    );
    // The checks every stored policy passed still apply.
    assert_eq!(
        KeyPolicy::parse_stored("[]"),
        Err(KmsError::MalformedPolicyDocument(
            "The key policy must be a JSON object.".to_owned()
        ))
    );
}
