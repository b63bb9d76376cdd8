//! ReEncrypt: moving a ciphertext to another key or context without the plaintext leaving
//! Keyshard, and each way it is refused (behaviour reference, sections 3.3, 3.4 and 3.7).

use aws_sdk_kms::Client;
use aws_sdk_kms::operation::re_encrypt::ReEncryptOutput;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DryRunModifierType, EncryptionAlgorithmSpec};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::harness::Keyshard;
use crate::support::{
    Failure, alias_arn, context, create_alias, create_key, disable_key, encrypt_text, failure,
    invalid_ciphertext, key_arn, key_metadata,
};

const INCORRECT_KEY_MESSAGE: &str =
    "The key ID in the request does not identify a CMK that can perform this operation.";
const DRY_RUN_MESSAGE: &str = "The request would have succeeded, but the DryRun option is set.";

async fn current_key_material_id(client: &Client, key_id: &str) -> String {
    key_metadata(client, key_id)
        .await
        .current_key_material_id()
        .expect("CurrentKeyMaterialId")
        .to_owned()
}

async fn decrypt_text(client: &Client, ciphertext: Blob, pairs: &[(&str, &str)]) -> String {
    let decrypted = client
        .decrypt()
        .ciphertext_blob(ciphertext)
        .set_encryption_context(Some(context(pairs)).filter(|c| !c.is_empty()))
        .send()
        .await
        .expect("Decrypt");
    let plaintext = decrypted.plaintext().expect("Plaintext").as_ref().to_vec();
    String::from_utf8(plaintext).expect("the test's plaintexts are text")
}

/// The members every ReEncrypt answer has: both keys as ARNs, and both algorithms.
fn assert_moved(moved: &ReEncryptOutput, source: &str, destination: &str) {
    assert_eq!(moved.source_key_id(), Some(key_arn(source).as_str()));
    assert_eq!(moved.key_id(), Some(key_arn(destination).as_str()));
    let symmetric = Some(&EncryptionAlgorithmSpec::SymmetricDefault);
    assert_eq!(
        (
            moved.source_encryption_algorithm(),
            moved.destination_encryption_algorithm()
        ),
        (symmetric, symmetric)
    );
}

fn new_blob(output: &ReEncryptOutput) -> Blob {
    output.ciphertext_blob().expect("CiphertextBlob").clone()
}

#[tokio::test]
async fn a_ciphertext_moves_to_another_key_and_context_and_back() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let source = create_key(&client).await;
    let destination = create_key(&client).await;
    create_alias(&client, "alias/destination", &destination).await;
    let original = encrypt_text(&client, &source, "moved between keys", &[("stage", "a")]).await;

    let moved = client
        .re_encrypt()
        .ciphertext_blob(original.clone())
        .set_source_encryption_context(Some(context(&[("stage", "a")])))
        .destination_key_id("alias/destination")
        .set_destination_encryption_context(Some(context(&[("stage", "b"), ("tenant", "t")])))
        .send()
        .await
        .expect("ReEncrypt");
    assert_moved(&moved, &source, &destination);
    assert_eq!(
        moved.source_key_material_id(),
        Some(current_key_material_id(&client, &source).await.as_str())
    );
    assert_eq!(
        moved.destination_key_material_id(),
        Some(
            current_key_material_id(&client, &destination)
                .await
                .as_str()
        )
    );
    assert_ne!(new_blob(&moved), original);

    let pairs = [("tenant", "t"), ("stage", "b")];
    assert_eq!(
        decrypt_text(&client, new_blob(&moved), &pairs).await,
        "moved between keys"
    );
    let decrypted = client
        .decrypt()
        .ciphertext_blob(new_blob(&moved))
        .set_encryption_context(Some(context(&pairs)))
        .send()
        .await
        .expect("Decrypt names the destination");
    assert_eq!(decrypted.key_id(), Some(key_arn(&destination).as_str()));
    let old_context = client
        .decrypt()
        .ciphertext_blob(new_blob(&moved))
        .set_encryption_context(Some(context(&[("stage", "a")])))
        .send()
        .await;
    assert_eq!(failure(old_context), invalid_ciphertext());

    // Back again, naming both keys by ARN, the source by alias ARN's key too.
    let back = client
        .re_encrypt()
        .ciphertext_blob(new_blob(&moved))
        .set_source_encryption_context(Some(context(&pairs)))
        .source_key_id(alias_arn("alias/destination"))
        .destination_key_id(key_arn(&source))
        .send()
        .await
        .expect("ReEncrypt back");
    assert_moved(&back, &destination, &source);
    assert_eq!(
        decrypt_text(&client, new_blob(&back), &[]).await,
        "moved between keys"
    );
    // The original still decrypts: re-encryption leaves it as it was.
    assert_eq!(
        decrypt_text(&client, original, &[("stage", "a")]).await,
        "moved between keys"
    );

    ks.finish();
}

#[tokio::test]
async fn re_encrypting_under_the_same_key_changes_only_the_context() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let original = encrypt_text(&client, &key_id, "same key", &[]).await;

    let moved = client
        .re_encrypt()
        .ciphertext_blob(original)
        .source_key_id(&key_id)
        .destination_key_id(&key_id)
        .destination_encryption_context("purpose", "archive")
        .send()
        .await
        .expect("ReEncrypt");
    assert_moved(&moved, &key_id, &key_id);
    assert_eq!(
        moved.source_key_material_id(),
        moved.destination_key_material_id()
    );
    assert_eq!(
        decrypt_text(&client, new_blob(&moved), &[("purpose", "archive")]).await,
        "same key"
    );

    ks.finish();
}

#[tokio::test]
async fn the_largest_plaintext_survives_re_encryption() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let source = create_key(&client).await;
    let destination = create_key(&client).await;
    let plaintext = "p".repeat(4096);
    let original = encrypt_text(&client, &source, &plaintext, &[]).await;

    let moved = client
        .re_encrypt()
        .ciphertext_blob(original)
        .destination_key_id(&destination)
        .send()
        .await
        .expect("ReEncrypt of 4096 bytes");
    assert_eq!(
        decrypt_text(&client, new_blob(&moved), &[]).await,
        plaintext
    );

    ks.finish();
}

#[tokio::test]
async fn a_wrong_source_context_or_a_damaged_blob_is_an_invalid_ciphertext() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let source = create_key(&client).await;
    let destination = create_key(&client).await;
    let original = encrypt_text(&client, &source, "bound", &[("k", "v")]).await;

    for pairs in [&[][..], &[("k", "w")], &[("k", "v"), ("x", "y")]] {
        let moved = client
            .re_encrypt()
            .ciphertext_blob(original.clone())
            .set_source_encryption_context(Some(context(pairs)).filter(|c| !c.is_empty()))
            .destination_key_id(&destination)
            .send()
            .await;
        assert_eq!(failure(moved), invalid_ciphertext(), "{pairs:?}");
    }
    let mut damaged = original.into_inner();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x01;
    let moved = client
        .re_encrypt()
        .ciphertext_blob(Blob::new(damaged))
        .set_source_encryption_context(Some(context(&[("k", "v")])))
        .destination_key_id(&destination)
        .send()
        .await;
    assert_eq!(failure(moved), invalid_ciphertext());

    ks.finish();
}

#[tokio::test]
async fn a_source_key_id_must_name_the_key_of_the_blob() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let owner = create_key(&client).await;
    let other = create_key(&client).await;
    let original = encrypt_text(&client, &owner, "owned", &[]).await;

    for form in [other.clone(), key_arn(&other)] {
        let moved = client
            .re_encrypt()
            .ciphertext_blob(original.clone())
            .source_key_id(&form)
            .destination_key_id(&owner)
            .send()
            .await;
        assert_eq!(
            failure(moved),
            Failure::new(400, "IncorrectKeyException", Some(INCORRECT_KEY_MESSAGE)),
            "{form}"
        );
    }
    let unknown = "0b4f2d6e-7f1a-4c3b-9d2e-5a6b7c8d9e0f";
    let missing = Failure::new(
        400,
        "NotFoundException",
        Some(&format!("Key '{}' does not exist", key_arn(unknown))),
    );
    let moved = client
        .re_encrypt()
        .ciphertext_blob(original.clone())
        .source_key_id(unknown)
        .destination_key_id(&owner)
        .send()
        .await;
    assert_eq!(failure(moved), missing);
    let moved = client
        .re_encrypt()
        .ciphertext_blob(original)
        .destination_key_id(key_arn(unknown))
        .send()
        .await;
    assert_eq!(failure(moved), missing);

    ks.finish();
}

#[tokio::test]
async fn a_disabled_source_or_destination_is_refused() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let source = create_key(&client).await;
    let destination = create_key(&client).await;
    let original = encrypt_text(&client, &source, "stuck", &[]).await;
    let disabled = |key_id: &str| {
        Failure::new(
            400,
            "DisabledException",
            Some(&format!("{} is disabled.", key_arn(key_id))),
        )
    };

    for (key_id, refused) in [(&destination, &destination), (&source, &source)] {
        disable_key(&client, key_id).await;
        let moved = client
            .re_encrypt()
            .ciphertext_blob(original.clone())
            .destination_key_id(&destination)
            .send()
            .await;
        assert_eq!(failure(moved), disabled(refused));
        // The dry run finds the same.
        let moved = client
            .re_encrypt()
            .ciphertext_blob(original.clone())
            .destination_key_id(&destination)
            .dry_run(true)
            .send()
            .await;
        assert_eq!(failure(moved), disabled(refused));
    }

    ks.finish();
}

#[tokio::test]
async fn dry_run_checks_both_keys_and_the_ciphertext_then_answers_dry_run() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let source = create_key(&client).await;
    let destination = create_key(&client).await;
    let original = encrypt_text(&client, &source, "dry", &[("k", "v")]).await;
    let dry_run = Failure::new(400, "DryRunOperationException", Some(DRY_RUN_MESSAGE));

    let moved = client
        .re_encrypt()
        .ciphertext_blob(original.clone())
        .set_source_encryption_context(Some(context(&[("k", "v")])))
        .destination_key_id(&destination)
        .dry_run(true)
        .send()
        .await;
    assert_eq!(failure(moved), dry_run);
    let wrong_context = client
        .re_encrypt()
        .ciphertext_blob(original)
        .destination_key_id(&destination)
        .dry_run(true)
        .send()
        .await;
    assert_eq!(failure(wrong_context), invalid_ciphertext());

    let ignoring_ciphertext = client
        .re_encrypt()
        .source_key_id(&source)
        .destination_key_id(&destination)
        .dry_run(true)
        .dry_run_modifiers(DryRunModifierType::IgnoreCiphertext)
        .send()
        .await;
    assert_eq!(failure(ignoring_ciphertext), dry_run);
    let without_source = client
        .re_encrypt()
        .destination_key_id(&destination)
        .dry_run(true)
        .dry_run_modifiers(DryRunModifierType::IgnoreCiphertext)
        .send()
        .await;
    assert_eq!(
        failure(without_source),
        Failure::new(
            400,
            "ValidationException",
            Some("SourceKeyId is required when the ciphertext is ignored.")
        )
    );
    disable_key(&client, &destination).await;
    let disabled_destination = client
        .re_encrypt()
        .source_key_id(&source)
        .destination_key_id(&destination)
        .dry_run(true)
        .dry_run_modifiers(DryRunModifierType::IgnoreCiphertext)
        .send()
        .await;
    assert_eq!(
        failure(disabled_destination),
        Failure::new(
            400,
            "DisabledException",
            Some(&format!("{} is disabled.", key_arn(&destination)))
        )
    );

    ks.finish();
}

#[tokio::test]
async fn only_the_symmetric_default_algorithm_is_accepted_on_either_side() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let original = encrypt_text(&client, &key_id, "algorithms", &[]).await;

    let moved = client
        .re_encrypt()
        .ciphertext_blob(original.clone())
        .destination_key_id(&key_id)
        .source_encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault)
        .destination_encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault)
        .send()
        .await;
    assert_eq!(
        decrypt_text(&client, new_blob(&moved.expect("ReEncrypt")), &[]).await,
        "algorithms"
    );
    for (source, destination, refused) in [
        (
            EncryptionAlgorithmSpec::RsaesOaepSha256,
            EncryptionAlgorithmSpec::SymmetricDefault,
            "RSAES_OAEP_SHA_256",
        ),
        (
            EncryptionAlgorithmSpec::SymmetricDefault,
            EncryptionAlgorithmSpec::Sm2Pke,
            "SM2PKE",
        ),
    ] {
        let moved = client
            .re_encrypt()
            .ciphertext_blob(original.clone())
            .destination_key_id(&key_id)
            .source_encryption_algorithm(source)
            .destination_encryption_algorithm(destination)
            .send()
            .await;
        let message =
            format!("The encryption algorithm {refused} is not valid for a SYMMETRIC_DEFAULT key.");
        assert_eq!(
            failure(moved),
            Failure::new(400, "InvalidKeyUsageException", Some(&message))
        );
    }

    ks.finish();
}

#[tokio::test]
async fn requests_missing_required_members_or_over_the_limits_are_validation_errors() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let ciphertext = STANDARD.encode(
        encrypt_text(&client, &key_id, "raw", &[])
            .await
            .into_inner(),
    );

    let cases = [
        (
            json!({"CiphertextBlob": ciphertext}),
            "1 validation error detected: Value null at 'destinationKeyId' failed to satisfy \
             constraint: Member must not be null",
        ),
        (
            json!({"DestinationKeyId": key_id}),
            "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy \
             constraint: Member must not be null",
        ),
        (
            json!({"CiphertextBlob": STANDARD.encode([0u8; 6145]), "DestinationKeyId": key_id}),
            "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy \
             constraint: Member must have length less than or equal to 6144",
        ),
        (
            json!({"CiphertextBlob": ciphertext, "DestinationKeyId": "", "SourceKeyId": ""}),
            "2 validation errors detected: Value '' at 'sourceKeyId' failed to satisfy \
             constraint: Member must have length greater than or equal to 1; Value '' at \
             'destinationKeyId' failed to satisfy constraint: Member must have length greater \
             than or equal to 1",
        ),
    ];
    for (body, message) in cases {
        let (status, answer) = ks.raw("ReEncrypt", &body).await;
        assert_eq!(
            (status, answer),
            (
                400,
                json!({"__type": "ValidationException", "message": message})
            )
        );
    }

    ks.finish();
}
