//! What a key pending deletion refuses and what it still allows: cryptography, state and
//! description changes, and aliases (behaviour reference, section 2: ENC, ADM, UpdateAlias and
//! ANY rows).

use aws_sdk_kms::types::KeyState;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::deletion::{pending_deletion, schedule};
use crate::harness::Keyshard;
use crate::support::{
    create_alias, create_key, customer_aliases, encrypt_text, failure, key_arn,
    key_metadata as describe,
};

#[tokio::test]
async fn every_cryptographic_operation_is_refused_while_a_key_is_pending_deletion() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let other = create_key(&client).await;
    let sealed = encrypt_text(&client, &key_id, "sealed before scheduling", &[]).await;
    let other_sealed = encrypt_text(&client, &other, "sealed under the other", &[]).await;
    let (sealed, other_sealed) = (
        STANDARD.encode(sealed.into_inner()),
        STANDARD.encode(other_sealed.into_inner()),
    );
    schedule(&client, &key_id, 7).await;

    let calls = [
        ("Encrypt", json!({"KeyId": key_id, "Plaintext": "eA=="})),
        // The key state is checked before DryRun answers.
        (
            "Encrypt",
            json!({"KeyId": key_id, "Plaintext": "eA==", "DryRun": true}),
        ),
        ("Decrypt", json!({"CiphertextBlob": sealed})),
        (
            "GenerateDataKey",
            json!({"KeyId": key_id, "NumberOfBytes": 32}),
        ),
        (
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": key_id, "KeySpec": "AES_256"}),
        ),
        (
            "ReEncrypt",
            json!({"CiphertextBlob": sealed, "DestinationKeyId": other}),
        ),
        (
            "ReEncrypt",
            json!({"CiphertextBlob": other_sealed, "DestinationKeyId": key_id}),
        ),
    ];
    let refused = json!({
        "__type": "KMSInvalidStateException",
        "message": format!("{} is pending deletion.", key_arn(&key_id)),
    });
    for (target, body) in calls {
        let answer = ks.raw(target, &body).await;
        assert_eq!(answer, (400, refused.clone()), "{target} {body}");
    }

    ks.finish();
}

#[tokio::test]
async fn enable_disable_and_description_changes_are_refused_while_pending_deletion() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    schedule(&client, &key_id, 7).await;
    let refused = pending_deletion(&key_id);

    let enabled = client.enable_key().key_id(&key_id).send().await;
    assert_eq!(failure(enabled), refused);
    let disabled = client.disable_key().key_id(key_arn(&key_id)).send().await;
    assert_eq!(failure(disabled), refused);
    let described = client
        .update_key_description()
        .key_id(&key_id)
        .description("too late")
        .send()
        .await;
    assert_eq!(failure(described), refused);

    let metadata = describe(&client, &key_id).await;
    assert_eq!(
        (metadata.key_state(), metadata.description()),
        (Some(&KeyState::PendingDeletion), Some(""))
    );

    ks.finish();
}

#[tokio::test]
async fn aliases_of_a_key_pending_deletion_stay_listed_but_no_alias_may_newly_point_at_it() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let other = create_key(&client).await;
    for (name, target) in [("alias/doomed", &key_id), ("alias/movable", &other)] {
        create_alias(&client, name, target).await;
    }
    schedule(&client, &key_id, 7).await;
    let refused = pending_deletion(&key_id);

    let created = client
        .create_alias()
        .alias_name("alias/late")
        .target_key_id(&key_id)
        .send()
        .await;
    assert_eq!(failure(created), refused);
    let moved = client
        .update_alias()
        .alias_name("alias/movable")
        .target_key_id(&key_id)
        .send()
        .await;
    assert_eq!(failure(moved), refused);

    let listed: Vec<(String, String)> = customer_aliases(&client)
        .await
        .iter()
        .map(|a| {
            (
                a.alias_name().unwrap_or_default().to_owned(),
                a.target_key_id().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("alias/doomed".to_owned(), key_id.clone()),
            ("alias/movable".to_owned(), other.clone())
        ]
    );
    let by_alias = describe(&client, "alias/doomed").await;
    assert_eq!(by_alias.key_state(), Some(&KeyState::PendingDeletion));

    // A pending-deletion source does not stop an alias from moving away.
    client
        .update_alias()
        .alias_name("alias/doomed")
        .target_key_id(&other)
        .send()
        .await
        .expect("UpdateAlias away from the pending key");

    ks.finish();
}
