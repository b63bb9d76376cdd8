//! CreateKey, DescribeKey and ListKeys (behaviour reference, sections 1, 4.1 and 4.2; case
//! BC-14).

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_kms::types::{
    EncryptionAlgorithmSpec, KeyManagerType, KeySpec, KeyState, KeyUsageType, OriginType,
};
use serde_json::json;

use crate::harness::{ACCOUNT, Keyshard};
use crate::support::{
    Failure, alias_arn, create_key, failure, is_key_material_id, is_uuid, key_arn,
};

#[tokio::test]
async fn create_key_with_no_arguments_makes_an_enabled_symmetric_encryption_key() {
    let ks = Keyshard::start().await;

    let created = ks.client().create_key().send().await.expect("CreateKey");
    let m = created.key_metadata().expect("KeyMetadata");
    assert!(is_uuid(m.key_id()), "{}", m.key_id());
    assert_eq!(m.arn(), Some(key_arn(m.key_id()).as_str()));
    assert_eq!(m.aws_account_id(), Some(ACCOUNT));
    assert_eq!(
        (m.enabled(), m.description(), m.key_state()),
        (true, Some(""), Some(&KeyState::Enabled))
    );
    assert_eq!(
        (m.key_usage(), m.key_spec()),
        (
            Some(&KeyUsageType::EncryptDecrypt),
            Some(&KeySpec::SymmetricDefault)
        )
    );
    assert_eq!(
        (m.origin(), m.key_manager(), m.multi_region()),
        (
            Some(&OriginType::AwsKms),
            Some(&KeyManagerType::Customer),
            Some(false)
        )
    );
    assert_eq!(
        m.encryption_algorithms(),
        [EncryptionAlgorithmSpec::SymmetricDefault]
    );
    let material = m.current_key_material_id().expect("CurrentKeyMaterialId");
    assert!(is_key_material_id(material), "{material}");
    assert_eq!(
        (m.deletion_date(), m.multi_region_configuration()),
        (None, None)
    );

    let created_at = m.creation_date().expect("CreationDate").secs();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    let now = i64::try_from(now.as_secs()).expect("seconds fit i64");
    assert!((now - created_at).abs() < 300, "{created_at} vs {now}");

    ks.finish();
}

#[tokio::test]
async fn create_key_answers_with_exactly_the_members_aws_sends_for_a_symmetric_key() {
    let ks = Keyshard::start().await;

    let (status, body) = ks.raw("CreateKey", &json!({})).await;
    assert_eq!(status, 200);
    let members: BTreeSet<&str> = body["KeyMetadata"]
        .as_object()
        .expect("KeyMetadata is an object")
        .keys()
        .map(String::as_str)
        .collect();
    let expected = BTreeSet::from([
        "AWSAccountId",
        "Arn",
        "CreationDate",
        "CurrentKeyMaterialId",
        "CustomerMasterKeySpec",
        "Description",
        "Enabled",
        "EncryptionAlgorithms",
        "KeyId",
        "KeyManager",
        "KeySpec",
        "KeyState",
        "KeyUsage",
        "MultiRegion",
        "Origin",
    ]);
    assert_eq!(members, expected);
    assert!(body["KeyMetadata"]["CreationDate"].is_number(), "{body}");
    // The deprecated copy of KeySpec, read here rather than through the SDK's deprecated API.
    assert_eq!(
        body["KeyMetadata"]["CustomerMasterKeySpec"],
        json!("SYMMETRIC_DEFAULT")
    );

    ks.finish();
}

#[tokio::test]
async fn create_key_keeps_the_description_and_describe_key_returns_the_same_metadata() {
    let ks = Keyshard::start().await;
    let client = ks.client();

    let created = client
        .create_key()
        .description("payments data keys")
        .send()
        .await
        .expect("CreateKey");
    let metadata = created.key_metadata().expect("KeyMetadata").clone();
    assert_eq!(metadata.description(), Some("payments data keys"));
    let described = client
        .describe_key()
        .key_id(metadata.key_id())
        .send()
        .await
        .expect("DescribeKey");
    assert_eq!(described.key_metadata(), Some(&metadata));

    ks.finish();
}

#[tokio::test]
async fn describe_key_accepts_the_key_id_key_arn_alias_name_and_alias_arn() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/described")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias");

    let by_id = client.describe_key().key_id(&key_id).send().await;
    let expected = by_id.expect("DescribeKey by id").key_metadata().cloned();
    for form in [
        key_arn(&key_id),
        "alias/described".to_owned(),
        alias_arn("alias/described"),
    ] {
        let described = client.describe_key().key_id(&form).send().await;
        let metadata = described.expect("DescribeKey").key_metadata().cloned();
        assert_eq!(metadata, expected, "{form}");
    }

    ks.finish();
}

// BC-14, first call.
#[tokio::test]
async fn describe_key_of_an_unknown_key_id_is_not_found_naming_its_arn() {
    let ks = Keyshard::start().await;
    let client = ks.client();

    let unknown = "0b4f2d6e-7f1a-4c3b-9d2e-5a6b7c8d9e0f";
    for form in [unknown.to_owned(), key_arn(unknown)] {
        let described = client.describe_key().key_id(&form).send().await;
        let message = format!("Key '{}' does not exist", key_arn(unknown));
        assert_eq!(
            failure(described),
            Failure::new(400, "NotFoundException", Some(&message)),
            "{form}"
        );
    }

    ks.finish();
}

// BC-14, second call.
#[tokio::test]
async fn describe_key_of_a_malformed_key_id_is_not_found_as_an_invalid_key_id() {
    let ks = Keyshard::start().await;
    let client = ks.client();

    for input in [
        "fake-key-id",
        "mrk-fake-key-id",
        "0b4f2d6e7f1a4c3b9d2e5a6b7c8d9e0f",
    ] {
        let described = client.describe_key().key_id(input).send().await;
        let message = format!("Invalid keyId '{input}'");
        assert_eq!(
            failure(described),
            Failure::new(400, "NotFoundException", Some(&message)),
            "{input}"
        );
    }

    ks.finish();
}

// BC-14, third call.
#[tokio::test]
async fn describe_key_of_an_unknown_alias_is_not_found_naming_the_alias_arn() {
    let ks = Keyshard::start().await;
    let client = ks.client();

    let message = format!("Alias {} is not found.", alias_arn("alias/does-not-exist"));
    for form in [
        "alias/does-not-exist".to_owned(),
        alias_arn("alias/does-not-exist"),
    ] {
        let described = client.describe_key().key_id(&form).send().await;
        assert_eq!(
            failure(described),
            Failure::new(400, "NotFoundException", Some(&message)),
            "{form}"
        );
    }

    ks.finish();
}

// BC-14, fourth call: the key exists, but the ARN names another region.
#[tokio::test]
async fn describe_key_of_a_key_arn_in_another_region_is_an_invalid_arn() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let elsewhere = format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{key_id}");
    let described = client.describe_key().key_id(elsewhere).send().await;
    assert_eq!(
        failure(described),
        Failure::new(400, "NotFoundException", Some("Invalid arn eu-west-1"))
    );

    ks.finish();
}

#[tokio::test]
async fn describe_key_without_a_key_id_or_with_eleven_grant_tokens_is_a_validation_error() {
    let ks = Keyshard::start().await;

    let (status, body) = ks.raw("DescribeKey", &json!({"KeyId": ""})).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({
                "__type": "ValidationException",
                "message": "1 validation error detected: Value '' at 'keyId' failed to satisfy \
                            constraint: Member must have length greater than or equal to 1"
            })
        )
    );
    // Only the type: the wording for a missing member is inferred (reference, section 6).
    let (status, body) = ks.raw("DescribeKey", &json!({})).await;
    assert_eq!(
        (status, &body["__type"]),
        (400, &json!("ValidationException"))
    );
    let tokens: Vec<String> = (0..11).map(|i| format!("grant-token-{i}")).collect();
    let body = json!({"KeyId": "alias/any", "GrantTokens": tokens});
    let (status, body) = ks.raw("DescribeKey", &body).await;
    assert_eq!(
        (status, &body["__type"]),
        (400, &json!("ValidationException"))
    );

    ks.finish();
}

#[tokio::test]
async fn create_key_with_an_asymmetric_spec_and_no_usage_is_a_validation_error() {
    let ks = Keyshard::start().await;

    let created = ks
        .client()
        .create_key()
        .key_spec(KeySpec::Rsa2048)
        .send()
        .await;
    assert_eq!(
        failure(created),
        Failure::new(
            400,
            "ValidationException",
            Some(
                "You must specify a KeyUsage value for all KMS keys except for symmetric \
                 encryption keys."
            )
        )
    );

    ks.finish();
}

#[tokio::test]
async fn create_key_with_a_key_spec_outside_the_enum_is_a_validation_error() {
    let ks = Keyshard::start().await;

    let created = ks
        .client()
        .create_key()
        .key_spec(KeySpec::from("HMAC_random"))
        .send()
        .await;
    let failure = failure(created);
    assert_eq!(failure.kind(), (400, "ValidationException"));
    let message = failure.message.as_deref().unwrap_or_default();
    // The reference records this text up to the list of values (section 4.1).
    assert!(
        message.starts_with(
            "1 validation error detected: Value 'HMAC_random' at 'keySpec' failed to satisfy \
             constraint: Member must satisfy enum value set: ["
        ),
        "{message}"
    );

    ks.finish();
}

#[tokio::test]
async fn create_key_with_a_usage_the_spec_does_not_allow_is_a_validation_error() {
    let ks = Keyshard::start().await;

    let created = ks
        .client()
        .create_key()
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await;
    assert_eq!(
        failure(created),
        Failure::new(
            400,
            "ValidationException",
            Some("KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT")
        )
    );

    ks.finish();
}

#[tokio::test]
async fn create_key_with_malformed_members_is_a_validation_error() {
    let ks = Keyshard::start().await;
    let client = ks.client();

    let both_specs = json!({
        "KeySpec": "SYMMETRIC_DEFAULT",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT"
    });
    let (status, body) = ks.raw("CreateKey", &both_specs).await;
    assert_eq!(
        (status, &body["__type"]),
        (400, &json!("ValidationException"))
    );
    let long_description = client
        .create_key()
        .description("d".repeat(8193))
        .send()
        .await;
    assert_eq!(
        failure(long_description).kind(),
        (400, "ValidationException")
    );
    let bad_usage = client
        .create_key()
        .key_usage(KeyUsageType::from("DECRYPT_ONLY"))
        .send()
        .await;
    assert_eq!(failure(bad_usage).kind(), (400, "ValidationException"));

    ks.finish();
}

// Keyshard creates symmetric AWS_KMS keys only; everything else gets an AWS-shaped refusal
// (README, limits).
#[tokio::test]
async fn create_key_of_a_kind_keyshard_does_not_offer_is_an_unsupported_operation() {
    let ks = Keyshard::start().await;
    let client = ks.client();

    let rsa = client
        .create_key()
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await;
    assert_eq!(failure(rsa).kind(), (400, "UnsupportedOperationException"));
    let external = client
        .create_key()
        .origin(OriginType::External)
        .send()
        .await;
    assert_eq!(
        failure(external).kind(),
        (400, "UnsupportedOperationException")
    );
    let multi_region = client.create_key().multi_region(true).send().await;
    assert_eq!(
        failure(multi_region).kind(),
        (400, "UnsupportedOperationException")
    );

    let listed = client.list_keys().send().await.expect("ListKeys");
    assert_eq!(listed.keys(), []);

    ks.finish();
}

#[tokio::test]
async fn create_key_in_an_unknown_custom_key_store_is_custom_key_store_not_found() {
    let ks = Keyshard::start().await;

    let created = ks
        .client()
        .create_key()
        .custom_key_store_id("cks-1234567890abcdef0")
        .send()
        .await;
    assert_eq!(
        failure(created).kind(),
        (400, "CustomKeyStoreNotFoundException")
    );

    ks.finish();
}

#[tokio::test]
async fn list_keys_lists_every_key_by_bare_id_and_arn_in_one_untruncated_page() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let mut created = BTreeSet::new();
    for _ in 0..3 {
        created.insert(create_key(&client).await);
    }

    let listed = client.list_keys().send().await.expect("ListKeys");
    let mut ids = BTreeSet::new();
    for entry in listed.keys() {
        let id = entry.key_id().expect("KeyId").to_owned();
        assert_eq!(entry.key_arn(), Some(key_arn(&id).as_str()));
        ids.insert(id);
    }
    assert_eq!(ids, created);
    assert_eq!((listed.truncated(), listed.next_marker()), (false, None));

    ks.finish();
}

#[tokio::test]
async fn list_keys_with_a_limit_outside_1_to_1000_is_a_validation_error() {
    let ks = Keyshard::start().await;
    let client = ks.client();

    for limit in [0, 1001] {
        let listed = client.list_keys().limit(limit).send().await;
        assert_eq!(
            failure(listed).kind(),
            (400, "ValidationException"),
            "{limit}"
        );
    }
    let listed = client.list_keys().limit(1000).send().await;
    assert_eq!(listed.expect("Limit 1000 is allowed").keys(), []);

    ks.finish();
}
