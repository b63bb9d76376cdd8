//! Each condition operator and condition key Keyshard supplies, on an exact example.

use super::*;

/// Whether a policy allowing Alice kms:Encrypt under `condition` allows her request with these
/// extra condition values.
fn allowed_with(
    condition: &str,
    extra: impl FnOnce(RequestConditions) -> RequestConditions,
) -> bool {
    let text = format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "{ALICE}"}}, "Action": "kms:Encrypt",
            "Resource": "*", "Condition": {condition}}}"#
    );
    let alice = caller(ALICE);
    let conditions = extra(RequestConditions::new(&alice));
    policy(&[text]).evaluate(&alice, encrypt(), &key(), &conditions) == Decision::Allow
}

fn with_context(items: &[(&str, &str)]) -> impl FnOnce(RequestConditions) -> RequestConditions {
    let context = context(items);
    move |conditions| conditions.with_encryption_context(&context)
}

fn with(
    key: &'static str,
    value: &'static str,
) -> impl FnOnce(RequestConditions) -> RequestConditions {
    move |mut conditions| {
        conditions.insert(key, value);
        conditions
    }
}

fn unchanged(conditions: RequestConditions) -> RequestConditions {
    conditions
}

#[test]
fn encryption_context_conditions_match_the_key_in_any_case_and_the_value_exactly() {
    let condition = r#"{"StringEquals": {"kms:EncryptionContext:purpose": "backup"}}"#;
    assert!(allowed_with(
        condition,
        with_context(&[("purpose", "backup")])
    ));
    assert!(allowed_with(
        condition,
        with_context(&[("Purpose", "backup")])
    ));
    assert!(!allowed_with(
        condition,
        with_context(&[("purpose", "Backup")])
    ));
    assert!(!allowed_with(
        condition,
        with_context(&[("team", "backup")])
    ));
    assert!(!allowed_with(condition, unchanged));
}

#[test]
fn encryption_context_keys_take_set_qualifiers() {
    let only =
        r#"{"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["purpose", "team"]}}"#;
    assert!(allowed_with(only, with_context(&[("purpose", "a")])));
    assert!(allowed_with(
        only,
        with_context(&[("purpose", "a"), ("team", "b")])
    ));
    assert!(!allowed_with(
        only,
        with_context(&[("purpose", "a"), ("other", "b")])
    ));
    // ForAllValues holds for a request without the key at all.
    assert!(allowed_with(only, unchanged));

    let any = r#"{"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "team"}}"#;
    assert!(allowed_with(
        any,
        with_context(&[("purpose", "a"), ("team", "b")])
    ));
    assert!(!allowed_with(any, with_context(&[("purpose", "a")])));
    assert!(!allowed_with(any, unchanged));

    let none = r#"{"ForAllValues:StringNotEquals": {"kms:EncryptionContextKeys": "secret"}}"#;
    assert!(allowed_with(none, with_context(&[("purpose", "a")])));
    assert!(!allowed_with(
        none,
        with_context(&[("purpose", "a"), ("secret", "b")])
    ));
}

#[test]
fn caller_conditions_name_the_account_and_principal() {
    assert!(allowed_with(
        r#"{"StringEquals": {"kms:CallerAccount": "111122223333"}}"#,
        unchanged
    ));
    assert!(!allowed_with(
        r#"{"StringEquals": {"kms:CallerAccount": "444455556666"}}"#,
        unchanged
    ));
    assert!(allowed_with(
        r#"{"StringEquals": {"aws:PrincipalAccount": ["444455556666", "111122223333"]}}"#,
        unchanged
    ));
    assert!(allowed_with(
        r#"{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/*"}}"#,
        unchanged
    ));
    assert!(!allowed_with(
        r#"{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/*"}}"#,
        unchanged
    ));
    assert!(allowed_with(
        &format!(r#"{{"ArnEquals": {{"aws:PrincipalArn": "{ALICE}"}}}}"#),
        unchanged
    ));
    assert!(!allowed_with(
        &format!(r#"{{"ArnNotEquals": {{"aws:PrincipalArn": "{ALICE}"}}}}"#),
        unchanged
    ));
    assert!(allowed_with(
        r#"{"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}"#,
        unchanged
    ));
}

#[test]
fn if_exists_passes_an_absent_key_and_checks_a_present_one() {
    let condition = r#"{"StringEqualsIfExists": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}"#;
    assert!(allowed_with(condition, unchanged));
    assert!(allowed_with(condition, |c| c.with_encryption_algorithm(
        EncryptionAlgorithm::SymmetricDefault
    )));
    assert!(!allowed_with(condition, |c| c.with_encryption_algorithm(
        EncryptionAlgorithm::RsaesOaepSha256
    )));
    // Without IfExists the absent key fails.
    assert!(!allowed_with(
        r#"{"StringEquals": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}"#,
        unchanged
    ));
}

#[test]
fn null_tests_whether_a_key_is_present() {
    let needs_context = r#"{"Null": {"kms:EncryptionContextKeys": "false"}}"#;
    assert!(allowed_with(
        needs_context,
        with_context(&[("purpose", "a")])
    ));
    assert!(!allowed_with(needs_context, unchanged));
    let no_context = r#"{"Null": {"kms:EncryptionContextKeys": true}}"#;
    assert!(allowed_with(no_context, unchanged));
    assert!(!allowed_with(no_context, with_context(&[("purpose", "a")])));
    // kms:ViaService is never present in Keyshard.
    assert!(allowed_with(
        r#"{"Null": {"kms:ViaService": "true"}}"#,
        unchanged
    ));
}

#[test]
fn negated_operators_pass_an_absent_key_and_need_every_value_to_differ() {
    assert!(allowed_with(
        r#"{"StringNotEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}"#,
        unchanged
    ));
    let neither = r#"{"StringNotEquals": {"kms:CallerAccount": ["444455556666", "777788889999"]}}"#;
    assert!(allowed_with(neither, unchanged));
    let mine = r#"{"StringNotEquals": {"kms:CallerAccount": ["444455556666", "111122223333"]}}"#;
    assert!(!allowed_with(mine, unchanged));
}

#[test]
fn string_operators_compare_as_iam_documents() {
    let alias = |alias: &str| {
        let alias = AliasName::parse(alias).unwrap();
        move |c: RequestConditions| c.with_request_alias(&alias)
    };
    let cases = [
        (
            r#"{"StringEqualsIgnoreCase": {"kms:RequestAlias": "ALIAS/App"}}"#,
            "alias/app",
            true,
        ),
        (
            r#"{"StringNotEqualsIgnoreCase": {"kms:RequestAlias": "ALIAS/App"}}"#,
            "alias/app",
            false,
        ),
        (
            r#"{"StringLike": {"kms:RequestAlias": "alias/fin*"}}"#,
            "alias/finance",
            true,
        ),
        (
            r#"{"StringLike": {"kms:RequestAlias": "alias/fin*"}}"#,
            "alias/Finance",
            false,
        ),
        (
            r#"{"StringLike": {"kms:RequestAlias": "alias/a?p"}}"#,
            "alias/app",
            true,
        ),
        (
            r#"{"StringNotLike": {"kms:RequestAlias": "alias/fin*"}}"#,
            "alias/hr",
            true,
        ),
        (
            r#"{"StringNotLike": {"kms:RequestAlias": "alias/fin*"}}"#,
            "alias/finance",
            false,
        ),
        (
            r#"{"StringEquals": {"KMS:REQUESTALIAS": "alias/app"}}"#,
            "alias/app",
            true,
        ),
    ];
    for (condition, name, expected) in cases {
        assert_eq!(
            allowed_with(condition, alias(name)),
            expected,
            "{condition} {name}"
        );
    }
}

#[test]
fn key_property_conditions_describe_the_key() {
    let key = |c: RequestConditions| {
        c.with_key(
            KeySpec::SymmetricDefault,
            KeyUsage::EncryptDecrypt,
            Origin::AwsKms,
        )
    };
    assert!(allowed_with(
        r#"{"StringEquals": {"kms:KeySpec": "SYMMETRIC_DEFAULT", "kms:KeyUsage": "ENCRYPT_DECRYPT",
            "kms:KeyOrigin": "AWS_KMS"}}"#,
        key
    ));
    // Every key of a condition must hold.
    assert!(!allowed_with(
        r#"{"StringEquals": {"kms:KeySpec": "SYMMETRIC_DEFAULT", "kms:KeyOrigin": "EXTERNAL"}}"#,
        key
    ));
}

#[test]
fn grant_conditions_describe_the_grant_being_created() {
    let grant = GrantParameters::new(
        Some(Principal::Aws(BOB.to_owned())),
        Some(Principal::Aws(ALICE.to_owned())),
        vec![GrantOperation::Encrypt, GrantOperation::Decrypt],
        Some(GrantConstraints {
            encryption_context_subset: Some(pairs(&[("purpose", "a")])),
            ..GrantConstraints::default()
        }),
    )
    .unwrap();
    let with_grant = |c: RequestConditions| c.with_grant(&grant);
    let cases = [
        r#"{"ForAllValues:StringEquals": {"kms:GrantOperations": ["Encrypt", "Decrypt", "DescribeKey"]}}"#,
        r#"{"StringEquals": {"kms:GranteePrincipal": "arn:aws:iam::111122223333:user/bob"}}"#,
        r#"{"StringEquals": {"kms:RetiringPrincipal": "arn:aws:iam::111122223333:user/alice"}}"#,
        r#"{"StringEquals": {"kms:GrantConstraintType": "EncryptionContextSubset"}}"#,
        r#"{"Bool": {"kms:GrantIsForAWSResource": false}}"#,
    ];
    for condition in cases {
        assert!(allowed_with(condition, with_grant), "{condition}");
    }
    for condition in [
        r#"{"ForAllValues:StringEquals": {"kms:GrantOperations": "Encrypt"}}"#,
        r#"{"Bool": {"kms:GrantIsForAWSResource": "true"}}"#,
    ] {
        assert!(!allowed_with(condition, with_grant), "{condition}");
    }
}

#[test]
fn numeric_operators_compare_numbers() {
    let age = |value: &'static str| with("aws:MultiFactorAuthAge", value);
    assert!(allowed_with(
        r#"{"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}}"#,
        age("100")
    ));
    assert!(!allowed_with(
        r#"{"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}"#,
        age("7200")
    ));
    assert!(allowed_with(
        r#"{"NumericLessThanEquals": {"aws:MultiFactorAuthAge": "3600"}}"#,
        age("3600")
    ));
    assert!(allowed_with(
        r#"{"NumericGreaterThan": {"aws:MultiFactorAuthAge": "10"}}"#,
        age("10.5")
    ));
    assert!(!allowed_with(
        r#"{"NumericGreaterThanEquals": {"aws:MultiFactorAuthAge": "11"}}"#,
        age("10.5")
    ));
    assert!(allowed_with(
        r#"{"NumericEquals": {"aws:MultiFactorAuthAge": "1e2"}}"#,
        age("100")
    ));
    assert!(!allowed_with(
        r#"{"NumericNotEquals": {"aws:MultiFactorAuthAge": "100"}}"#,
        age("100")
    ));
    assert!(!allowed_with(
        r#"{"NumericEquals": {"aws:MultiFactorAuthAge": "100"}}"#,
        age("many")
    ));
}

#[test]
fn date_ip_and_binary_operators_never_match_a_keyshard_request() {
    assert!(!allowed_with(
        r#"{"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}"#,
        unchanged
    ));
    assert!(!allowed_with(
        r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#,
        unchanged
    ));
    assert!(allowed_with(
        r#"{"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#,
        unchanged
    ));
}

#[test]
fn a_stored_statement_with_an_unknown_operator_never_applies() {
    let text = format!(
        r#"{{"Statement": [{}, {{"Effect": "Deny", "Principal": "*", "Action": "kms:*",
            "Resource": "*", "Condition": {{"StringEqualz": {{"kms:CallerAccount": "1"}}}}}}]}}"#,
        allow(ACCOUNT, r#""kms:*""#)
    );
    assert_eq!(
        KeyPolicy::parse(&text),
        Err(KmsError::MalformedPolicyDocument(
            "Policy contains a statement with an unknown condition operator: StringEqualz."
                .to_owned()
        ))
    );
    let stored = KeyPolicy::parse_stored(&text).unwrap();
    assert_eq!(decide(&stored, ALICE, encrypt()), Decision::Allow);
}
