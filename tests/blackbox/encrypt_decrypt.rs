//! Encrypt and Decrypt: round trips, key ids, limits, DryRun and grant tokens (behaviour
//! reference, sections 3.2, 3.3, 3.7 and 3.8).

use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::types::{DryRunModifierType, EncryptionAlgorithmSpec};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::harness::Keyshard;
use crate::support::{
    Failure, alias_arn, blob, context, create_key, encrypt_text, failure, grant_token,
    invalid_ciphertext, is_key_material_id, key_arn,
};

const INCORRECT_KEY_MESSAGE: &str =
    "The key ID in the request does not identify a CMK that can perform this operation.";
const DRY_RUN_MESSAGE: &str = "The request would have succeeded, but the DryRun option is set.";

#[tokio::test]
async fn encrypt_then_decrypt_returns_the_plaintext_for_every_key_id_form() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/round-trip")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias");
    let arn = key_arn(&key_id);
    let described = client.describe_key().key_id(&key_id).send().await;
    let described = described.expect("DescribeKey");
    let material = described
        .key_metadata()
        .and_then(|m| m.current_key_material_id())
        .expect("CurrentKeyMaterialId")
        .to_owned();
    assert!(is_key_material_id(&material), "{material}");

    for form in [
        key_id.clone(),
        arn.clone(),
        "alias/round-trip".to_owned(),
        alias_arn("alias/round-trip"),
    ] {
        let plaintext = format!("round trip through {form}");
        let encrypted = client
            .encrypt()
            .key_id(&form)
            .plaintext(blob(plaintext.clone()))
            .send()
            .await
            .expect("Encrypt");
        assert_eq!(
            (encrypted.key_id(), encrypted.encryption_algorithm()),
            (
                Some(arn.as_str()),
                Some(&EncryptionAlgorithmSpec::SymmetricDefault)
            ),
            "{form}"
        );
        let ciphertext = encrypted.ciphertext_blob().expect("CiphertextBlob").clone();
        let decrypted = client
            .decrypt()
            .ciphertext_blob(ciphertext)
            .key_id(&form)
            .send()
            .await
            .expect("Decrypt");
        assert_eq!(decrypted.plaintext(), Some(&blob(plaintext)), "{form}");
        assert_eq!(
            (
                decrypted.key_id(),
                decrypted.encryption_algorithm(),
                decrypted.key_material_id()
            ),
            (
                Some(arn.as_str()),
                Some(&EncryptionAlgorithmSpec::SymmetricDefault),
                Some(material.as_str())
            ),
            "{form}"
        );
    }

    ks.finish();
}

#[tokio::test]
async fn encrypt_answers_with_blob_key_arn_and_algorithm_but_no_key_material_id() {
    let ks = Keyshard::start().await;
    let key_id = create_key(&ks.client()).await;

    let (status, body) = ks
        .raw(
            "Encrypt",
            &json!({"KeyId": key_id, "Plaintext": "c2VjcmV0LW1lc3NhZ2UtYm9keQ=="}),
        )
        .await;
    assert_eq!(status, 200);
    let mut members: Vec<&String> = body.as_object().expect("an object").keys().collect();
    members.sort_unstable();
    assert_eq!(members, ["CiphertextBlob", "EncryptionAlgorithm", "KeyId"]);
    assert_eq!(
        (&body["KeyId"], &body["EncryptionAlgorithm"]),
        (&json!(key_arn(&key_id)), &json!("SYMMETRIC_DEFAULT"))
    );

    ks.finish();
}

#[tokio::test]
async fn encrypt_accepts_4096_bytes_of_plaintext_and_refuses_4097() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let largest: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let encrypted = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(blob(largest.clone()))
        .send()
        .await
        .expect("Encrypt of 4096 bytes");
    let ciphertext = encrypted.ciphertext_blob().expect("CiphertextBlob").clone();
    assert!(
        ciphertext.as_ref().len() <= 6144,
        "{}",
        ciphertext.as_ref().len()
    );
    let decrypted = client.decrypt().ciphertext_blob(ciphertext).send().await;
    assert_eq!(
        decrypted.expect("Decrypt").plaintext(),
        Some(&blob(largest))
    );

    let too_long = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(blob(vec![7u8; 4097]))
        .send()
        .await;
    assert_eq!(
        failure(too_long),
        Failure::new(
            400,
            "ValidationException",
            Some(
                "1 validation error detected: Value at 'plaintext' failed to satisfy \
                 constraint: Member must have length less than or equal to 4096"
            )
        )
    );

    ks.finish();
}

#[tokio::test]
async fn encrypt_of_an_empty_or_missing_plaintext_is_a_validation_error() {
    let ks = Keyshard::start().await;
    let key_id = create_key(&ks.client()).await;

    for body in [
        json!({"KeyId": key_id, "Plaintext": ""}),
        json!({"KeyId": key_id}),
        json!({"Plaintext": "eA=="}),
    ] {
        let (status, answer) = ks.raw("Encrypt", &body).await;
        assert_eq!(
            (status, &answer["__type"]),
            (400, &json!("ValidationException")),
            "{body}"
        );
    }

    ks.finish();
}

#[tokio::test]
async fn encrypt_with_an_asymmetric_algorithm_on_a_symmetric_key_is_invalid_key_usage() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let encrypted = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(blob("wrong algorithm"))
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await;
    assert_eq!(failure(encrypted).kind(), (400, "InvalidKeyUsageException"));

    ks.finish();
}

#[tokio::test]
async fn encrypt_for_an_unknown_key_is_not_found_naming_its_arn() {
    let ks = Keyshard::start().await;

    let unknown = "0b4f2d6e-7f1a-4c3b-9d2e-5a6b7c8d9e0f";
    let encrypted = ks
        .client()
        .encrypt()
        .key_id(key_arn(unknown))
        .plaintext(blob("nowhere to go"))
        .send()
        .await;
    let message = format!("Key '{}' does not exist", key_arn(unknown));
    assert_eq!(
        failure(encrypted),
        Failure::new(400, "NotFoundException", Some(&message))
    );

    ks.finish();
}

#[tokio::test]
async fn decrypt_with_the_key_id_of_another_key_is_incorrect_key() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let owner = create_key(&client).await;
    let other = create_key(&client).await;
    let ciphertext = encrypt_text(&client, &owner, "belongs to the owner", &[]).await;

    for form in [other.clone(), key_arn(&other)] {
        let decrypted = client
            .decrypt()
            .ciphertext_blob(ciphertext.clone())
            .key_id(&form)
            .send()
            .await;
        assert_eq!(
            failure(decrypted),
            Failure::new(400, "IncorrectKeyException", Some(INCORRECT_KEY_MESSAGE)),
            "{form}"
        );
    }
    let decrypted = client
        .decrypt()
        .ciphertext_blob(ciphertext)
        .key_id(&other)
        .send()
        .await;
    let service_error = decrypted.expect_err("wrong key").into_service_error();
    assert!(
        matches!(service_error, DecryptError::IncorrectKeyException(_)),
        "{service_error:?}"
    );

    ks.finish();
}

#[tokio::test]
async fn decrypt_with_a_key_id_naming_no_key_is_not_found() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let ciphertext = encrypt_text(&client, &key_id, "named wrongly", &[]).await;

    let unknown = "0b4f2d6e-7f1a-4c3b-9d2e-5a6b7c8d9e0f";
    let decrypted = client
        .decrypt()
        .ciphertext_blob(ciphertext)
        .key_id(unknown)
        .send()
        .await;
    let message = format!("Key '{}' does not exist", key_arn(unknown));
    assert_eq!(
        failure(decrypted),
        Failure::new(400, "NotFoundException", Some(&message))
    );

    ks.finish();
}

#[tokio::test]
async fn encrypt_and_decrypt_with_dry_run_are_refused_with_dry_run_operation() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let ciphertext = encrypt_text(&client, &key_id, "dry run", &[("k", "v")]).await;
    let dry_run = Failure::new(400, "DryRunOperationException", Some(DRY_RUN_MESSAGE));

    let encrypted = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(blob("dry run"))
        .dry_run(true)
        .send()
        .await;
    assert_eq!(failure(encrypted), dry_run);
    let decrypted = client
        .decrypt()
        .ciphertext_blob(ciphertext.clone())
        .set_encryption_context(Some(context(&[("k", "v")])))
        .dry_run(true)
        .send()
        .await;
    assert_eq!(failure(decrypted), dry_run);
    let ignoring_ciphertext = client
        .decrypt()
        .key_id(&key_id)
        .dry_run(true)
        .dry_run_modifiers(DryRunModifierType::IgnoreCiphertext)
        .send()
        .await;
    assert_eq!(failure(ignoring_ciphertext), dry_run);

    // DryRun answers only after every other check passed (reference, section 3.7).
    let wrong_context = client
        .decrypt()
        .ciphertext_blob(ciphertext)
        .dry_run(true)
        .send()
        .await;
    assert_eq!(failure(wrong_context), invalid_ciphertext());

    ks.finish();
}

#[tokio::test]
async fn encrypt_and_decrypt_accept_ten_grant_tokens_and_refuse_eleven() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let tokens = vec![grant_token(&client, &key_id).await; 11];
    let ten = Some(tokens[..10].to_vec());
    let eleven = Some(tokens);

    let encrypted = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(blob("granted"))
        .set_grant_tokens(ten.clone())
        .send()
        .await
        .expect("Encrypt with ten grant tokens");
    let ciphertext = encrypted.ciphertext_blob().expect("CiphertextBlob").clone();
    let decrypted = client
        .decrypt()
        .ciphertext_blob(ciphertext.clone())
        .set_grant_tokens(ten)
        .send()
        .await;
    assert_eq!(
        decrypted
            .expect("Decrypt with ten grant tokens")
            .plaintext(),
        Some(&blob("granted"))
    );

    let encrypted = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(blob("granted"))
        .set_grant_tokens(eleven.clone())
        .send()
        .await;
    assert_eq!(failure(encrypted).kind(), (400, "ValidationException"));
    let decrypted = client
        .decrypt()
        .ciphertext_blob(ciphertext)
        .set_grant_tokens(eleven)
        .send()
        .await;
    assert_eq!(failure(decrypted).kind(), (400, "ValidationException"));

    ks.finish();
}

#[tokio::test]
async fn decrypt_without_a_blob_or_with_one_over_6144_bytes_is_a_validation_error() {
    let ks = Keyshard::start().await;

    let oversized = STANDARD.encode([1u8; 6145]);
    let cases = [
        ("no blob", json!({})),
        ("an empty blob", json!({"CiphertextBlob": ""})),
        ("6145 bytes", json!({"CiphertextBlob": oversized})),
    ];
    for (case, body) in cases {
        let (status, answer) = ks.raw("Decrypt", &body).await;
        assert_eq!(
            (status, &answer["__type"]),
            (400, &json!("ValidationException")),
            "{case}"
        );
    }

    ks.finish();
}
