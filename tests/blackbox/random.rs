//! GenerateRandom, and the `Recipient` member Keyshard refuses (behaviour reference, sections
//! 3.1 and 3.6).

use aws_sdk_kms::types::{DataKeySpec, KeyEncryptionMechanism, RecipientInfo};
use serde_json::json;

use crate::harness::Keyshard;
use crate::support::{Failure, blob, create_key, failure};

#[tokio::test]
async fn generate_random_returns_exactly_the_requested_number_of_bytes() {
    let ks = Keyshard::start().await;
    let client = ks.client();

    for n in [1, 32, 1024] {
        let random = client
            .generate_random()
            .number_of_bytes(n)
            .send()
            .await
            .expect("GenerateRandom");
        let len = random.plaintext().map(|p| p.as_ref().len());
        assert_eq!(len, Some(usize::try_from(n).expect("positive")), "{n}");
    }
    let first = client.generate_random().number_of_bytes(32).send().await;
    let second = client.generate_random().number_of_bytes(32).send().await;
    assert_ne!(
        first.expect("GenerateRandom").plaintext(),
        second.expect("GenerateRandom").plaintext()
    );

    ks.finish();
}

#[tokio::test]
async fn generate_random_without_number_of_bytes_is_a_validation_error() {
    let ks = Keyshard::start().await;

    let random = ks.client().generate_random().send().await;
    assert_eq!(
        failure(random),
        Failure::new(
            400,
            "ValidationException",
            Some("NumberOfBytes is required.")
        )
    );
    let (status, body) = ks.raw("GenerateRandom", &json!({})).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"__type": "ValidationException", "message": "NumberOfBytes is required."})
        )
    );

    ks.finish();
}

#[tokio::test]
async fn generate_random_outside_1_to_1024_bytes_is_a_validation_error() {
    let ks = Keyshard::start().await;
    let client = ks.client();

    let too_many = client.generate_random().number_of_bytes(1025).send().await;
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
    let none = client.generate_random().number_of_bytes(0).send().await;
    assert_eq!(failure(none).kind(), (400, "ValidationException"));

    ks.finish();
}

#[tokio::test]
async fn generate_random_in_an_unknown_custom_key_store_is_custom_key_store_not_found() {
    let ks = Keyshard::start().await;

    let random = ks
        .client()
        .generate_random()
        .number_of_bytes(16)
        .custom_key_store_id("cks-1234567890abcdef0")
        .send()
        .await;
    assert_eq!(
        failure(random).kind(),
        (400, "CustomKeyStoreNotFoundException")
    );

    ks.finish();
}

// Keyshard cannot verify Nitro attestation documents, so it must refuse Recipient rather than
// hand out plaintext (reference, section 3.6); the error type is Keyshard's choice.
#[tokio::test]
async fn a_recipient_is_refused_rather_than_answered_with_plaintext() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let recipient = RecipientInfo::builder()
        .key_encryption_algorithm(KeyEncryptionMechanism::RsaesOaepSha256)
        .attestation_document(blob(vec![0xd2; 64]))
        .build();

    let random = client
        .generate_random()
        .number_of_bytes(32)
        .recipient(recipient.clone())
        .send()
        .await;
    assert_eq!(
        failure(random).kind(),
        (400, "UnsupportedOperationException")
    );
    let generated = client
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .recipient(recipient)
        .send()
        .await;
    assert_eq!(
        failure(generated).kind(),
        (400, "UnsupportedOperationException")
    );

    ks.finish();
}
