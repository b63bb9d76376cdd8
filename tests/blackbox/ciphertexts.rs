//! Ciphertext integrity: foreign and corrupted blobs, and the encryption context bound to each
//! blob (behaviour reference, sections 3.3 and 3.5; cases BC-02 and BC-13).

use aws_sdk_kms::operation::decrypt::DecryptError;

use crate::harness::Keyshard;
use crate::support::{
    Failure, blob, context, create_key, encrypt_text, failure, invalid_ciphertext,
};

const UNKNOWN_BLOB_KEY_MESSAGE: &str = "The ciphertext refers to a customer master key that does \
                                        not exist, does not exist in this region, or you are not \
                                        allowed to access.";

// BC-02.
#[tokio::test]
async fn decrypt_of_bytes_that_are_not_a_kms_blob_is_invalid_ciphertext() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let foreign = blob("not-a-kms-ciphertext");
    let with_key = client
        .decrypt()
        .key_id(&key_id)
        .ciphertext_blob(foreign.clone())
        .send()
        .await;
    let without_key = client.decrypt().ciphertext_blob(foreign).send().await;
    assert_eq!(failure(with_key), invalid_ciphertext());
    let err = without_key.expect_err("foreign bytes do not decrypt");
    let service_error = err.into_service_error();
    assert!(
        matches!(service_error, DecryptError::InvalidCiphertextException(_)),
        "{service_error:?}"
    );

    ks.finish();
}

// BC-02, third call.
#[tokio::test]
async fn decrypt_rejects_a_blob_whose_last_byte_is_flipped() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let mut bytes = encrypt_text(&client, &key_id, "flip the last byte", &[])
        .await
        .into_inner();

    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let decrypted = client.decrypt().ciphertext_blob(blob(bytes)).send().await;
    assert_eq!(failure(decrypted), invalid_ciphertext());

    ks.finish();
}

// Every byte counts, including the key id in the blob's header: a damaged header must not read
// as a blob of some other key (reference, section 3.3).
#[tokio::test]
async fn decrypt_rejects_a_blob_with_any_single_byte_flipped() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let original = encrypt_text(&client, &key_id, "every byte counts", &[("k", "v")])
        .await
        .into_inner();

    let mut truncated = original.clone();
    truncated.pop();
    let mut extended = original.clone();
    extended.push(0);
    for bytes in [truncated, extended] {
        let decrypted = client
            .decrypt()
            .ciphertext_blob(blob(bytes))
            .set_encryption_context(Some(context(&[("k", "v")])))
            .send()
            .await;
        assert_eq!(failure(decrypted), invalid_ciphertext());
    }

    let mut wrong = Vec::new();
    for position in 0..original.len() {
        let mut bytes = original.clone();
        bytes[position] ^= 0xff;
        let decrypted = client
            .decrypt()
            .ciphertext_blob(blob(bytes))
            .set_encryption_context(Some(context(&[("k", "v")])))
            .send()
            .await;
        let failure = failure(decrypted);
        if failure != invalid_ciphertext() {
            wrong.push(format!(
                "byte {position}: {} {:?}",
                failure.code, failure.message
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} flipped bytes were not InvalidCiphertextException:\n{}",
        wrong.len(),
        original.len(),
        wrong.join("\n")
    );

    ks.finish();
}

// BC-13.
#[tokio::test]
async fn encryption_context_must_match_exactly_in_any_order() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let pairs = [("tenant", "a"), ("env", "prod")];
    let ciphertext = encrypt_text(&client, &key_id, "context bound", &pairs).await;

    let reordered = client
        .decrypt()
        .ciphertext_blob(ciphertext.clone())
        .set_encryption_context(Some(context(&[("env", "prod"), ("tenant", "a")])))
        .send()
        .await;
    assert_eq!(
        reordered.expect("reordered context").plaintext(),
        Some(&blob("context bound"))
    );

    let wrong_contexts = [
        Some(context(&[("tenant", "b"), ("env", "prod")])),
        Some(context(&[("tenant", "a")])),
        Some(context(&[("tenant", "a"), ("env", "prod"), ("extra", "1")])),
        Some(context(&[("Tenant", "a"), ("env", "prod")])),
        None,
    ];
    for wrong in wrong_contexts {
        let decrypted = client
            .decrypt()
            .ciphertext_blob(ciphertext.clone())
            .set_encryption_context(wrong.clone())
            .send()
            .await;
        assert_eq!(failure(decrypted), invalid_ciphertext(), "{wrong:?}");
    }

    ks.finish();
}

// BC-13, extension: the context encoding must keep keys and values apart.
#[tokio::test]
async fn encryption_context_pairs_cannot_trade_characters_between_key_and_value() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let ciphertext = encrypt_text(&client, &key_id, "no concatenation", &[("ab", "c")]).await;

    let decrypted = client
        .decrypt()
        .ciphertext_blob(ciphertext.clone())
        .set_encryption_context(Some(context(&[("a", "bc")])))
        .send()
        .await;
    assert_eq!(failure(decrypted), invalid_ciphertext());
    let decrypted = client
        .decrypt()
        .ciphertext_blob(ciphertext)
        .set_encryption_context(Some(context(&[("ab", "c")])))
        .send()
        .await;
    assert_eq!(
        decrypted.expect("the real context").plaintext(),
        Some(&blob("no concatenation"))
    );

    ks.finish();
}

// An empty context is treated as absent (reference, section 3.5).
#[tokio::test]
async fn an_empty_encryption_context_is_the_same_as_none() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let encrypted = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(blob("empty context"))
        .set_encryption_context(Some(context(&[])))
        .send()
        .await
        .expect("Encrypt");
    let ciphertext = encrypted.ciphertext_blob().expect("CiphertextBlob").clone();
    let decrypted = client.decrypt().ciphertext_blob(ciphertext).send().await;
    assert_eq!(
        decrypted.expect("Decrypt").plaintext(),
        Some(&blob("empty context"))
    );

    ks.finish();
}

// A blob made by another installation names a key this one does not have.
#[tokio::test]
async fn decrypt_of_a_blob_from_another_keyshard_is_access_denied() {
    let elsewhere = Keyshard::start().await;
    let foreign_client = elsewhere.client();
    let foreign_key = create_key(&foreign_client).await;
    let ciphertext = encrypt_text(&foreign_client, &foreign_key, "made elsewhere", &[]).await;
    elsewhere.finish();

    let ks = Keyshard::start().await;
    let decrypted = ks
        .client()
        .decrypt()
        .ciphertext_blob(ciphertext)
        .send()
        .await;
    assert_eq!(
        failure(decrypted),
        Failure::new(400, "AccessDeniedException", Some(UNKNOWN_BLOB_KEY_MESSAGE))
    );

    ks.finish();
}
