//! GenerateDataKey and GenerateDataKeyWithoutPlaintext (behaviour reference, sections 3.1, 3.7
//! and 3.8; cases BC-01 and BC-03).

use aws_sdk_kms::Client;
use aws_sdk_kms::operation::generate_data_key::GenerateDataKeyError;
use aws_sdk_kms::types::{DataKeySpec, EncryptionAlgorithmSpec};
use serde_json::json;

use crate::harness::Keyshard;
use crate::support::{
    Failure, alias_arn, context, create_key, failure, grant_token, is_key_material_id, key_arn,
};

const DRY_RUN_MESSAGE: &str = "The request would have succeeded, but the DryRun option is set.";

async fn current_key_material_id(client: &Client, key_id: &str) -> String {
    let described = client.describe_key().key_id(key_id).send().await;
    let described = described.expect("DescribeKey");
    let metadata = described.key_metadata().expect("KeyMetadata");
    metadata
        .current_key_material_id()
        .expect("CurrentKeyMaterialId")
        .to_owned()
}

#[tokio::test]
async fn generate_data_key_round_trips_through_decrypt_for_every_key_id_form() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/data-keys")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias");
    let arn = key_arn(&key_id);
    let material = current_key_material_id(&client, &key_id).await;
    assert!(is_key_material_id(&material), "{material}");

    for form in [
        key_id.clone(),
        arn.clone(),
        "alias/data-keys".to_owned(),
        alias_arn("alias/data-keys"),
    ] {
        let generated = client
            .generate_data_key()
            .key_id(&form)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await
            .expect("GenerateDataKey");
        let plaintext = generated.plaintext().expect("Plaintext").clone();
        assert_eq!(plaintext.as_ref().len(), 32, "{form}");
        assert_eq!(
            (generated.key_id(), generated.key_material_id()),
            (Some(arn.as_str()), Some(material.as_str())),
            "{form}"
        );
        let blob = generated.ciphertext_blob().expect("CiphertextBlob").clone();

        let without_key_id = client.decrypt().ciphertext_blob(blob.clone()).send().await;
        let with_key_id = client
            .decrypt()
            .ciphertext_blob(blob)
            .key_id(&form)
            .send()
            .await;
        for decrypted in [without_key_id, with_key_id] {
            let decrypted = decrypted.expect("Decrypt");
            assert_eq!(decrypted.plaintext(), Some(&plaintext), "{form}");
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
    }

    ks.finish();
}

#[tokio::test]
async fn generate_data_key_without_plaintext_sends_no_plaintext_and_decrypts_to_32_bytes() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let material = current_key_material_id(&client, &key_id).await;

    let (status, body) = ks
        .raw(
            "GenerateDataKeyWithoutPlaintext",
            &json!({"KeyId": key_id, "KeySpec": "AES_256"}),
        )
        .await;
    assert_eq!(status, 200);
    let mut members: Vec<&String> = body.as_object().expect("an object").keys().collect();
    members.sort_unstable();
    assert_eq!(members, ["CiphertextBlob", "KeyId", "KeyMaterialId"]);
    assert_eq!(
        (&body["KeyId"], &body["KeyMaterialId"]),
        (&json!(key_arn(&key_id)), &json!(material))
    );

    let generated = client
        .generate_data_key_without_plaintext()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("GenerateDataKeyWithoutPlaintext");
    assert_eq!(
        (generated.key_id(), generated.key_material_id()),
        (Some(key_arn(&key_id).as_str()), Some(material.as_str()))
    );
    let blob = generated.ciphertext_blob().expect("CiphertextBlob").clone();
    let decrypted = client.decrypt().ciphertext_blob(blob).send().await;
    let decrypted = decrypted.expect("Decrypt");
    assert_eq!(decrypted.plaintext().map(|p| p.as_ref().len()), Some(32));
    assert_eq!(decrypted.key_id(), Some(key_arn(&key_id).as_str()));

    ks.finish();
}

// BC-01.
#[tokio::test]
async fn a_data_keys_encryption_context_must_be_given_exactly_to_decrypt() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let with_plaintext = client
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .encryption_context("purpose", "test")
        .send()
        .await
        .expect("GenerateDataKey");
    let expected_plaintext = with_plaintext.plaintext().cloned();
    let without_plaintext = client
        .generate_data_key_without_plaintext()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .encryption_context("purpose", "test")
        .send()
        .await
        .expect("GenerateDataKeyWithoutPlaintext");
    let blobs = [
        with_plaintext.ciphertext_blob().expect("CiphertextBlob"),
        without_plaintext.ciphertext_blob().expect("CiphertextBlob"),
    ];

    for (i, blob) in blobs.into_iter().enumerate() {
        let decrypted = client
            .decrypt()
            .ciphertext_blob(blob.clone())
            .set_encryption_context(Some(context(&[("purpose", "test")])))
            .send()
            .await
            .expect("Decrypt with the same context");
        assert_eq!(decrypted.key_id(), Some(key_arn(&key_id).as_str()));
        assert_eq!(
            decrypted.encryption_algorithm(),
            Some(&EncryptionAlgorithmSpec::SymmetricDefault)
        );
        if i == 0 {
            assert_eq!(decrypted.plaintext().cloned(), expected_plaintext);
        } else {
            assert_eq!(decrypted.plaintext().map(|p| p.as_ref().len()), Some(32));
        }

        let without_context = client.decrypt().ciphertext_blob(blob.clone()).send().await;
        let other_case = client
            .decrypt()
            .ciphertext_blob(blob.clone())
            .set_encryption_context(Some(context(&[("purpose", "TEST")])))
            .send()
            .await;
        for refused in [failure(without_context), failure(other_case)] {
            assert_eq!(
                refused,
                Failure::new(400, "InvalidCiphertextException", None)
            );
        }
    }

    ks.finish();
}

// BC-03.
#[tokio::test]
async fn data_key_length_follows_key_spec_or_number_of_bytes() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let cases = [
        (Some(DataKeySpec::Aes128), None, 16),
        (Some(DataKeySpec::Aes256), None, 32),
        (None, Some(1), 1),
        (None, Some(1024), 1024),
    ];
    for (spec, number_of_bytes, expected_len) in cases {
        let generated = client
            .generate_data_key()
            .key_id(&key_id)
            .set_key_spec(spec.clone())
            .set_number_of_bytes(number_of_bytes)
            .send()
            .await
            .expect("GenerateDataKey");
        let plaintext = generated.plaintext().expect("Plaintext");
        assert_eq!(plaintext.as_ref().len(), expected_len, "{spec:?}");
        let blob = generated.ciphertext_blob().expect("CiphertextBlob").clone();
        let decrypted = client.decrypt().ciphertext_blob(blob).send().await;
        assert_eq!(
            decrypted.expect("Decrypt").plaintext(),
            Some(plaintext),
            "{spec:?} {number_of_bytes:?}"
        );
    }

    ks.finish();
}

#[tokio::test]
async fn number_of_bytes_outside_1_to_1024_is_a_validation_error() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let too_many = client
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(1025)
        .send()
        .await;
    assert_eq!(
        failure(too_many),
        Failure::new(
            400,
            "ValidationException",
            Some(
                "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy \
                 constraint: Member must have value less than or equal to 1024"
            )
        )
    );
    for n in [0, -1] {
        let too_few = client
            .generate_data_key_without_plaintext()
            .key_id(&key_id)
            .number_of_bytes(n)
            .send()
            .await;
        assert_eq!(failure(too_few).kind(), (400, "ValidationException"), "{n}");
    }

    ks.finish();
}

// BC-03: the wording for neither and both is unconfirmed, so only the type is asserted.
#[tokio::test]
async fn neither_or_both_of_key_spec_and_number_of_bytes_is_a_validation_error() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let neither = client.generate_data_key().key_id(&key_id).send().await;
    assert_eq!(failure(neither).kind(), (400, "ValidationException"));
    let both = client
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .number_of_bytes(32)
        .send()
        .await;
    assert_eq!(failure(both).kind(), (400, "ValidationException"));
    let neither = client
        .generate_data_key_without_plaintext()
        .key_id(&key_id)
        .send()
        .await;
    assert_eq!(failure(neither).kind(), (400, "ValidationException"));

    ks.finish();
}

#[tokio::test]
async fn a_data_key_spec_outside_the_enum_is_a_validation_error() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let generated = client
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::from("AES_512"))
        .send()
        .await;
    let failure = failure(generated);
    assert_eq!(failure.kind(), (400, "ValidationException"));
    let message = failure.message.as_deref().unwrap_or_default();
    assert!(
        message.starts_with(
            "1 validation error detected: Value 'AES_512' at 'keySpec' failed to satisfy \
             constraint: Member must satisfy enum value set: ["
        ),
        "{message}"
    );

    ks.finish();
}

#[tokio::test]
async fn generate_data_key_without_a_key_id_is_a_validation_error() {
    let ks = Keyshard::start().await;

    for body in [
        json!({"KeySpec": "AES_256"}),
        json!({"KeyId": "", "KeySpec": "AES_256"}),
    ] {
        let (status, answer) = ks.raw("GenerateDataKey", &body).await;
        assert_eq!(
            (status, &answer["__type"]),
            (400, &json!("ValidationException")),
            "{body}"
        );
    }

    ks.finish();
}

#[tokio::test]
async fn generate_data_key_for_an_unknown_key_or_alias_is_not_found() {
    let ks = Keyshard::start().await;
    let client = ks.client();

    let unknown = "0b4f2d6e-7f1a-4c3b-9d2e-5a6b7c8d9e0f";
    let generated = client
        .generate_data_key()
        .key_id(unknown)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await;
    let message = format!("Key '{}' does not exist", key_arn(unknown));
    assert_eq!(
        failure(generated),
        Failure::new(400, "NotFoundException", Some(&message))
    );
    let generated = client
        .generate_data_key_without_plaintext()
        .key_id("alias/nothing-here")
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await;
    let message = format!("Alias {} is not found.", alias_arn("alias/nothing-here"));
    assert_eq!(
        failure(generated),
        Failure::new(400, "NotFoundException", Some(&message))
    );

    ks.finish();
}

#[tokio::test]
async fn generate_data_key_with_dry_run_is_refused_with_dry_run_operation() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let generated = client
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .dry_run(true)
        .send()
        .await;
    let err = generated.expect_err("DryRun never succeeds");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    let service_error = err.into_service_error();
    assert!(
        matches!(
            service_error,
            GenerateDataKeyError::DryRunOperationException(_)
        ),
        "{service_error:?}"
    );
    let without_plaintext = client
        .generate_data_key_without_plaintext()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .dry_run(true)
        .send()
        .await;
    assert_eq!(
        failure(without_plaintext),
        Failure::new(400, "DryRunOperationException", Some(DRY_RUN_MESSAGE))
    );

    // Checks run before DryRun answers: an unknown key is still not found.
    let unknown = client
        .generate_data_key()
        .key_id("alias/not-there")
        .key_spec(DataKeySpec::Aes256)
        .dry_run(true)
        .send()
        .await;
    assert_eq!(failure(unknown).kind(), (400, "NotFoundException"));

    ks.finish();
}

#[tokio::test]
async fn generate_data_key_accepts_ten_grant_tokens_and_refuses_eleven() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let tokens = vec![grant_token(&client, &key_id).await; 11];

    let ten = client
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes128)
        .set_grant_tokens(Some(tokens[..10].to_vec()))
        .send()
        .await;
    let ten = ten.expect("ten grant tokens are allowed");
    assert_eq!(ten.plaintext().map(|p| p.as_ref().len()), Some(16));
    let eleven = client
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes128)
        .set_grant_tokens(Some(tokens))
        .send()
        .await;
    assert_eq!(failure(eleven).kind(), (400, "ValidationException"));

    ks.finish();
}
