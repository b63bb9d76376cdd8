use super::*;

const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ROLE: &str = "arn:aws:iam::111122223333:role/app";

fn pairs(items: &[(&str, &str)]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn validation(message: &str) -> KmsError {
    KmsError::Validation(message.to_owned())
}

fn parameters(
    operations: &[GrantOperation],
    constraints: Option<GrantConstraints>,
) -> Result<GrantParameters, KmsError> {
    GrantParameters::new(
        Some(Principal::Aws(ROLE.to_owned())),
        None,
        operations.to_vec(),
        constraints,
    )
}

#[test]
fn a_grant_id_prints_as_64_lowercase_hex_digits_and_parses_back() {
    let id = GrantId::from_bytes([0xab; 32]);
    assert_eq!(id.to_string(), "ab".repeat(32));
    assert_eq!(GrantId::parse(&id.to_string()), Some(id));
    let generated = GrantId::generate();
    assert_eq!(GrantId::parse(&generated.to_string()), Some(generated));
    assert_ne!(GrantId::generate(), generated);
}

#[test]
fn malformed_grant_ids_are_invalid_grant_id_errors() {
    for input in [
        "",
        "abc",
        &"AB".repeat(32),
        &"g".repeat(64),
        &"a".repeat(65),
    ] {
        assert_eq!(GrantId::parse(input), None, "{input}");
        assert_eq!(
            GrantId::parse_request(input),
            Err(KmsError::InvalidGrantId(format!(
                "Invalid grant ID '{input}'"
            )))
        );
    }
}

#[test]
fn a_token_names_its_grant_and_key_and_every_issue_differs() {
    let token = GrantToken {
        key_id: KeyId::from_bytes([0x42; 16]),
        grant_id: GrantId::from_bytes([0x07; 32]),
    };
    let first = token.issue();
    let second = token.issue();
    assert_ne!(first, second);
    assert_eq!(GrantToken::parse(&first), Ok(token));
    assert_eq!(GrantToken::parse(&second), Ok(token));
    assert_eq!(first.len(), 87);
    assert!(
        first
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
}

#[test]
fn tokens_keyshard_did_not_issue_are_invalid() {
    let issued = GrantToken {
        key_id: KeyId::from_bytes([1; 16]),
        grant_id: GrantId::from_bytes([2; 32]),
    }
    .issue();
    let mut wrong_version = URL_SAFE_NO_PAD.decode(&issued).unwrap();
    wrong_version[0] = 2;
    let wrong_version = URL_SAFE_NO_PAD.encode(wrong_version);
    for token in [
        "not a token",
        "AQ",
        &issued[..issued.len() - 2],
        &format!("{issued}AA"),
        &wrong_version,
    ] {
        assert_eq!(
            GrantToken::parse(token),
            Err(KmsError::InvalidGrantToken(
                "The grant token is not valid.".to_owned()
            )),
            "{token}"
        );
    }
}

#[test]
fn operations_are_kept_once_each_in_name_order() {
    use GrantOperation as G;
    let grant = parameters(&[G::ReEncryptTo, G::Encrypt, G::Decrypt, G::Encrypt], None).unwrap();
    assert_eq!(
        grant.operations,
        vec![G::Decrypt, G::Encrypt, G::ReEncryptTo]
    );
    assert_eq!(grant.operations_text(), "Decrypt,Encrypt,ReEncryptTo");
    assert_eq!(
        GrantParameters::parse_operations("Decrypt,Encrypt,ReEncryptTo"),
        Some(grant.operations)
    );
    assert_eq!(GrantParameters::parse_operations("Decrypt,Nope"), None);
}

#[test]
fn a_grant_needs_a_grantee_and_an_operation_other_than_create_grant_alone() {
    let no_grantee = GrantParameters::new(None, None, vec![GrantOperation::Encrypt], None);
    assert_eq!(
        no_grantee,
        Err(validation(
            "Specify a GranteePrincipal or a GranteeServicePrincipal."
        ))
    );
    assert_eq!(
        parameters(&[], None),
        Err(validation(
            "Operations must name at least one grant operation."
        ))
    );
    let only_create_grant = [GrantOperation::CreateGrant, GrantOperation::CreateGrant];
    assert_eq!(
        parameters(&only_create_grant, None),
        Err(validation(
            "Grants must not contain only the CreateGrant operation."
        ))
    );
    assert_eq!(
        parameters(
            &[GrantOperation::CreateGrant, GrantOperation::DescribeKey],
            None
        )
        .map(|p| p.operations.len()),
        Ok(2)
    );
}

#[test]
fn both_members_of_a_principal_pair_are_refused() {
    assert_eq!(
        Principal::one_of(Some("a".into()), Some("b.c.d".into()), "Grantee"),
        Err(validation(
            "Specify either GranteePrincipal or GranteeServicePrincipal, not both."
        ))
    );
    assert_eq!(
        Principal::one_of(None, Some("s3.amazonaws.com".into()), "Retiring"),
        Ok(Some(Principal::Service("s3.amazonaws.com".to_owned())))
    );
    assert_eq!(Principal::one_of(None, None, "Retiring"), Ok(None));
}

#[test]
fn a_service_grantee_needs_a_source_arn_and_a_retiring_principal() {
    let service = || Some(Principal::Service("s3.amazonaws.com".to_owned()));
    let source_arn = || GrantConstraints {
        source_arn: Some("arn:aws:sqs:us-east-1:111122223333:queue".to_owned()),
        ..GrantConstraints::default()
    };
    let message = "A grant for a GranteeServicePrincipal needs a SourceArn constraint and a \
                   RetiringPrincipal or RetiringServicePrincipal.";
    let ops = || vec![GrantOperation::Decrypt];
    assert_eq!(
        GrantParameters::new(service(), service(), ops(), None),
        Err(validation(message))
    );
    assert_eq!(
        GrantParameters::new(service(), None, ops(), Some(source_arn())),
        Err(validation(message))
    );
    let grant = GrantParameters::new(service(), service(), ops(), Some(source_arn())).unwrap();
    assert_eq!(grant.constraints, Some(source_arn()));
}

#[test]
fn empty_constraints_count_as_none() {
    let empty = GrantConstraints {
        encryption_context_equals: Some(BTreeMap::new()),
        encryption_context_subset: Some(BTreeMap::new()),
        source_arn: None,
    };
    let grant = parameters(&[GrantOperation::Decrypt], Some(empty)).unwrap();
    assert_eq!(grant.constraints, None);
}

#[test]
fn constraints_allow_one_context_kind_of_at_most_8_pairs_and_384_characters() {
    let equals_and_subset = GrantConstraints {
        encryption_context_equals: Some(pairs(&[("a", "1")])),
        encryption_context_subset: Some(pairs(&[("b", "2")])),
        source_arn: None,
    };
    assert_eq!(
        parameters(&[GrantOperation::Decrypt], Some(equals_and_subset)),
        Err(validation(
            "A grant can have an EncryptionContextEquals or an EncryptionContextSubset \
             constraint, not both."
        ))
    );

    let subset = |map| GrantConstraints {
        encryption_context_subset: Some(map),
        ..GrantConstraints::default()
    };
    let nine: BTreeMap<String, String> = (0..9).map(|i| (format!("k{i}"), "v".into())).collect();
    let eight: BTreeMap<String, String> = nine.clone().into_iter().take(8).collect();
    let too_long = pairs(&[("k", &"v".repeat(384))]);
    let longest = pairs(&[("k", &"v".repeat(383))]);
    let limit = "The EncryptionContextSubset constraint can have at most 8 pairs of at most 384 \
                 characters in all.";
    for map in [nine, too_long] {
        assert_eq!(
            parameters(&[GrantOperation::Decrypt], Some(subset(map))),
            Err(validation(limit))
        );
    }
    for map in [eight, longest] {
        let grant = parameters(&[GrantOperation::Decrypt], Some(subset(map.clone()))).unwrap();
        assert_eq!(grant.constraints, Some(subset(map)));
    }
}

#[test]
fn constraints_survive_their_stored_form() {
    let constraints = GrantConstraints {
        encryption_context_equals: Some(pairs(&[("Dept", "IT"), ("é", "\"quoted\"")])),
        encryption_context_subset: None,
        source_arn: Some("arn:aws:sqs:us-east-1:111122223333:queue".to_owned()),
    };
    let text = constraints.to_json();
    assert_eq!(
        text,
        r#"{"EncryptionContextEquals":{"Dept":"IT","é":"\"quoted\""},"SourceArn":"arn:aws:sqs:us-east-1:111122223333:queue"}"#
    );
    assert_eq!(GrantConstraints::from_json(&text), Some(constraints));
    for bad in [
        "[]",
        "{\"SourceArn\": 1}",
        "{\"EncryptionContextSubset\": {\"a\": 1}}",
    ] {
        assert_eq!(GrantConstraints::from_json(bad), None, "{bad}");
    }
}

#[test]
fn symmetric_encryption_keys_take_the_encryption_operations_but_not_signing_or_macs() {
    use GrantOperation as G;
    let spec = KeySpec::SymmetricDefault;
    let usage = KeyUsage::EncryptDecrypt;
    let allowed = [
        G::Decrypt,
        G::Encrypt,
        G::GenerateDataKey,
        G::GenerateDataKeyWithoutPlaintext,
        G::ReEncryptFrom,
        G::ReEncryptTo,
        G::CreateGrant,
        G::RetireGrant,
        G::DescribeKey,
        G::GenerateDataKeyPair,
        G::GenerateDataKeyPairWithoutPlaintext,
    ];
    for op in GrantOperation::VALUES.iter().filter_map(|v| G::parse(v)) {
        assert_eq!(op.applies_to(spec, usage), allowed.contains(&op), "{op}");
    }

    let grant = parameters(&[G::Sign, G::Encrypt, G::GenerateMac], None).unwrap();
    assert_eq!(
        grant.check_key(ARN, spec, usage),
        Err(validation(&format!(
            "Grant operations [GenerateMac, Sign] are not valid for {ARN}, whose KeySpec is \
             SYMMETRIC_DEFAULT and KeyUsage is ENCRYPT_DECRYPT."
        )))
    );
    let grant = parameters(&allowed, None).unwrap();
    assert_eq!(grant.check_key(ARN, spec, usage), Ok(()));
}

#[test]
fn other_key_types_take_their_own_operations() {
    use GrantOperation as G;
    let cases = [
        (KeySpec::Rsa2048, KeyUsage::SignVerify, G::Sign, G::Encrypt),
        (
            KeySpec::Rsa2048,
            KeyUsage::EncryptDecrypt,
            G::GetPublicKey,
            G::GenerateDataKey,
        ),
        (
            KeySpec::Hmac256,
            KeyUsage::GenerateVerifyMac,
            G::VerifyMac,
            G::GetPublicKey,
        ),
        (
            KeySpec::EccNistP256,
            KeyUsage::KeyAgreement,
            G::DeriveSharedSecret,
            G::Sign,
        ),
        (
            KeySpec::MlKem768,
            KeyUsage::EncapsulateDecapsulate,
            G::Decapsulate,
            G::Decrypt,
        ),
    ];
    for (spec, usage, yes, no) in cases {
        assert!(yes.applies_to(spec, usage), "{spec} {yes}");
        assert!(!no.applies_to(spec, usage), "{spec} {no}");
        assert!(G::DescribeKey.applies_to(spec, usage), "{spec}");
    }
}

#[test]
fn encryption_context_constraints_need_a_symmetric_encryption_key() {
    let constraints = GrantConstraints {
        encryption_context_subset: Some(pairs(&[("a", "b")])),
        ..GrantConstraints::default()
    };
    let grant = parameters(&[GrantOperation::DescribeKey], Some(constraints)).unwrap();
    assert_eq!(
        grant.check_key(ARN, KeySpec::Hmac256, KeyUsage::GenerateVerifyMac),
        Err(validation(&format!(
            "Encryption context constraints are valid only for symmetric encryption KMS keys; \
             {ARN} has KeySpec HMAC_256."
        )))
    );
    assert_eq!(
        grant.check_key(ARN, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt),
        Ok(())
    );
}

#[test]
fn principal_and_arn_patterns_follow_the_model() {
    assert!(is_service_principal("s3.amazonaws.com"));
    assert!(is_service_principal("logs.us-east-1.amazonaws.com"));
    for bad in [
        "amazonaws.com",
        "s3..amazonaws.com",
        "s3.amazon_aws.com",
        ".a.b",
        "a.b.",
    ] {
        assert!(!is_service_principal(bad), "{bad}");
    }
    assert!(ROLE.chars().all(is_principal_char));
    assert!("user+a=b,c@d".chars().all(is_principal_char));
    assert!(!"a b".chars().all(is_principal_char));
    assert!(is_source_arn("arn:aws:sqs:us-east-1:111122223333:queue"));
    assert!(is_source_arn(
        "arn:aws-cn:logs:cn-north-1:111122223333:log-group:x:*"
    ));
    for bad in [
        "arn:aws:s3:::bucket",
        "arn:aws:sqs:us-east-1:111122223333:",
        "arn:aws:s3:us-east-1:1111:x",
        "arn:gcp:s3:::x",
        "arn:aws::us-east-1:111122223333:x",
        "arn:aws:S3:us-east-1:111122223333:x",
    ] {
        assert!(!is_source_arn(bad), "{bad}");
    }
}

#[test]
fn the_issuing_account_is_the_account_root() {
    assert_eq!(
        issuing_account("111122223333"),
        "arn:aws:iam::111122223333:root"
    );
}
