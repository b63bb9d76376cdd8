//! EnableKey and DisableKey (behaviour reference, sections 2 and 4.3; case BC-04).

use aws_sdk_kms::types::KeyState;

use crate::harness::Keyshard;
use crate::support::{Failure, blob, create_key, encrypt_text, failure, key_arn};

#[tokio::test]
async fn a_disabled_key_refuses_cryptography_until_it_is_enabled_again() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let arn = key_arn(&key_id);
    let ciphertext = encrypt_text(&client, &key_id, "test", &[]).await;

    client
        .disable_key()
        .key_id(&arn)
        .send()
        .await
        .expect("DisableKey by ARN");
    let described = client
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("DescribeKey");
    let metadata = described.key_metadata().expect("KeyMetadata");
    assert_eq!(
        (metadata.key_state(), metadata.enabled()),
        (Some(&KeyState::Disabled), false)
    );

    let disabled = Failure::new(
        400,
        "DisabledException",
        Some(&format!("{arn} is disabled.")),
    );
    let encrypted = client
        .encrypt()
        .key_id(&arn)
        .plaintext(blob("test"))
        .send()
        .await;
    assert_eq!(failure(encrypted), disabled);
    let decrypted = client
        .decrypt()
        .ciphertext_blob(ciphertext.clone())
        .send()
        .await;
    assert_eq!(failure(decrypted), disabled);
    let generated = client
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(16)
        .send()
        .await;
    assert_eq!(failure(generated), disabled);

    client
        .enable_key()
        .key_id(&arn)
        .send()
        .await
        .expect("EnableKey by ARN");
    let decrypted = client
        .decrypt()
        .ciphertext_blob(ciphertext)
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(
        decrypted.plaintext().map(|p| p.as_ref().to_vec()),
        Some(b"test".to_vec())
    );
    let encrypted = client
        .encrypt()
        .key_id(&arn)
        .plaintext(blob("test"))
        .send()
        .await;
    assert_eq!(encrypted.expect("Encrypt").key_id(), Some(arn.as_str()));

    ks.finish();
}

#[tokio::test]
async fn enable_key_and_disable_key_are_idempotent() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    for _ in 0..2 {
        client
            .disable_key()
            .key_id(&key_id)
            .send()
            .await
            .expect("DisableKey");
    }
    for _ in 0..2 {
        client
            .enable_key()
            .key_id(&key_id)
            .send()
            .await
            .expect("EnableKey");
    }
    let described = client
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("DescribeKey");
    let metadata = described.key_metadata().expect("KeyMetadata");
    assert_eq!(
        (metadata.key_state(), metadata.enabled()),
        (Some(&KeyState::Enabled), true)
    );

    ks.finish();
}

#[tokio::test]
async fn disable_key_takes_a_key_id_or_arn_but_not_an_alias() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/lifecycle")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias");

    let by_alias = failure(client.disable_key().key_id("alias/lifecycle").send().await);
    assert_eq!(
        by_alias,
        Failure::new(
            400,
            "NotFoundException",
            Some("Invalid keyId 'alias/lifecycle'")
        )
    );
    let unknown = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let missing = failure(client.enable_key().key_id(unknown).send().await);
    assert_eq!(
        missing,
        Failure::new(
            400,
            "NotFoundException",
            Some(&format!("Key '{}' does not exist", key_arn(unknown)))
        )
    );

    ks.finish();
}
