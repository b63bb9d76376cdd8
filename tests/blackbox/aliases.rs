//! CreateAlias, UpdateAlias and DeleteAlias, seen through ListAliases and the operations that
//! resolve aliases (behaviour reference, sections 1 and 5.1).

use serde_json::json;

use crate::harness::Keyshard;
use crate::support::{Failure, alias_arn, blob, create_key, customer_aliases, failure, key_arn};

#[tokio::test]
async fn create_alias_is_listed_with_its_name_arn_and_the_bare_target_id() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    client
        .create_alias()
        .alias_name("alias/by-id")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias by key id");
    client
        .create_alias()
        .alias_name("alias/by-arn")
        .target_key_id(key_arn(&key_id))
        .send()
        .await
        .expect("CreateAlias by key ARN");

    let aliases = customer_aliases(&client).await;
    let mut seen: Vec<(&str, &str, &str)> = aliases
        .iter()
        .map(|a| {
            (
                a.alias_name().unwrap_or_default(),
                a.alias_arn().unwrap_or_default(),
                a.target_key_id().unwrap_or_default(),
            )
        })
        .collect();
    seen.sort_unstable();
    let by_arn = alias_arn("alias/by-arn");
    let by_id = alias_arn("alias/by-id");
    assert_eq!(
        seen,
        vec![
            ("alias/by-arn", by_arn.as_str(), key_id.as_str()),
            ("alias/by-id", by_id.as_str(), key_id.as_str()),
        ]
    );
    for alias in &aliases {
        let created = alias.creation_date().expect("CreationDate");
        assert_eq!(alias.last_updated_date(), Some(created));
    }

    ks.finish();
}

#[tokio::test]
async fn create_alias_answers_with_an_empty_body() {
    let ks = Keyshard::start().await;
    let key_id = create_key(&ks.client()).await;

    let response = ks
        .send_raw(crate::raw_http::RawRequest::new(
            "CreateAlias",
            json!({"AliasName": "alias/empty", "TargetKeyId": key_id}).to_string(),
        ))
        .await;
    assert_eq!(response.status, 200);
    // AWS sends no body for operations without output; `{}` is accepted too (section 0).
    assert!(
        response.body.is_empty() || response.json() == json!({}),
        "{:?}",
        String::from_utf8_lossy(&response.body)
    );

    ks.finish();
}

#[tokio::test]
async fn create_alias_with_a_taken_name_is_already_exists_and_keeps_the_old_target() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let first = create_key(&client).await;
    let second = create_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/taken")
        .target_key_id(&first)
        .send()
        .await
        .expect("CreateAlias");

    let again = client
        .create_alias()
        .alias_name("alias/taken")
        .target_key_id(&second)
        .send()
        .await;
    assert_eq!(failure(again).kind(), (400, "AlreadyExistsException"));
    let aliases = customer_aliases(&client).await;
    assert_eq!(aliases.len(), 1);
    assert_eq!(aliases[0].target_key_id(), Some(first.as_str()));

    ks.finish();
}

#[tokio::test]
async fn create_alias_targeting_an_unknown_key_is_not_found_naming_its_arn() {
    let ks = Keyshard::start().await;

    let unknown = "0b4f2d6e-7f1a-4c3b-9d2e-5a6b7c8d9e0f";
    let created = ks
        .client()
        .create_alias()
        .alias_name("alias/orphan")
        .target_key_id(unknown)
        .send()
        .await;
    let message = format!("Key '{}' does not exist", key_arn(unknown));
    assert_eq!(
        failure(created),
        Failure::new(400, "NotFoundException", Some(&message))
    );

    ks.finish();
}

// TargetKeyId takes a key id or key ARN only (reference, section 1).
#[tokio::test]
async fn create_alias_targeting_another_alias_is_not_found() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/first")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias");

    for target in ["alias/first".to_owned(), alias_arn("alias/first")] {
        let created = client
            .create_alias()
            .alias_name("alias/second")
            .target_key_id(&target)
            .send()
            .await;
        assert_eq!(
            failure(created).kind(),
            (400, "NotFoundException"),
            "{target}"
        );
    }

    ks.finish();
}

#[tokio::test]
async fn create_alias_without_a_target_is_a_validation_error() {
    let ks = Keyshard::start().await;

    let (status, body) = ks
        .raw("CreateAlias", &json!({"AliasName": "alias/no-target"}))
        .await;
    assert_eq!(
        (status, &body["__type"]),
        (400, &json!("ValidationException"))
    );

    ks.finish();
}

#[tokio::test]
async fn update_alias_points_the_alias_at_another_key_and_old_ciphertexts_still_decrypt() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let first = create_key(&client).await;
    let second = create_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/moving")
        .target_key_id(&first)
        .send()
        .await
        .expect("CreateAlias");
    let before = client
        .encrypt()
        .key_id("alias/moving")
        .plaintext(blob("encrypted before the alias moved"))
        .send()
        .await
        .expect("Encrypt");
    assert_eq!(before.key_id(), Some(key_arn(&first).as_str()));

    client
        .update_alias()
        .alias_name("alias/moving")
        .target_key_id(key_arn(&second))
        .send()
        .await
        .expect("UpdateAlias");

    let after = client
        .encrypt()
        .key_id("alias/moving")
        .plaintext(blob("encrypted after the alias moved"))
        .send()
        .await
        .expect("Encrypt");
    assert_eq!(after.key_id(), Some(key_arn(&second).as_str()));
    let old = client
        .decrypt()
        .ciphertext_blob(before.ciphertext_blob().expect("CiphertextBlob").clone())
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(
        (old.key_id(), old.plaintext()),
        (
            Some(key_arn(&first).as_str()),
            Some(&blob("encrypted before the alias moved"))
        )
    );
    let aliases = customer_aliases(&client).await;
    assert_eq!(aliases.len(), 1);
    assert_eq!(aliases[0].target_key_id(), Some(second.as_str()));
    let (created, updated) = (
        aliases[0].creation_date().expect("CreationDate"),
        aliases[0].last_updated_date().expect("LastUpdatedDate"),
    );
    assert!(updated >= created, "{updated} < {created}");

    ks.finish();
}

#[tokio::test]
async fn update_alias_of_an_unknown_alias_is_not_found_naming_the_alias_arn() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let updated = client
        .update_alias()
        .alias_name("alias/missing")
        .target_key_id(&key_id)
        .send()
        .await;
    let message = format!("Alias {} is not found.", alias_arn("alias/missing"));
    assert_eq!(
        failure(updated),
        Failure::new(400, "NotFoundException", Some(&message))
    );

    ks.finish();
}

#[tokio::test]
async fn update_alias_to_an_unknown_key_is_not_found_and_leaves_the_alias() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/stays")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias");

    let unknown = "0b4f2d6e-7f1a-4c3b-9d2e-5a6b7c8d9e0f";
    let updated = client
        .update_alias()
        .alias_name("alias/stays")
        .target_key_id(unknown)
        .send()
        .await;
    let message = format!("Key '{}' does not exist", key_arn(unknown));
    assert_eq!(
        failure(updated),
        Failure::new(400, "NotFoundException", Some(&message))
    );
    let aliases = customer_aliases(&client).await;
    assert_eq!(aliases[0].target_key_id(), Some(key_id.as_str()));

    ks.finish();
}

#[tokio::test]
async fn delete_alias_removes_the_name_and_leaves_the_key_usable() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/short-lived")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias");

    client
        .delete_alias()
        .alias_name("alias/short-lived")
        .send()
        .await
        .expect("DeleteAlias");

    assert_eq!(customer_aliases(&client).await, []);
    let described = client
        .describe_key()
        .key_id("alias/short-lived")
        .send()
        .await;
    let message = format!("Alias {} is not found.", alias_arn("alias/short-lived"));
    assert_eq!(
        failure(described),
        Failure::new(400, "NotFoundException", Some(&message))
    );
    let described = client.describe_key().key_id(&key_id).send().await;
    assert!(
        described
            .expect("the key outlives its alias")
            .key_metadata()
            .is_some_and(|m| m.enabled())
    );

    ks.finish();
}

#[tokio::test]
async fn delete_alias_of_an_unknown_alias_is_not_found_naming_the_alias_arn() {
    let ks = Keyshard::start().await;

    let deleted = ks
        .client()
        .delete_alias()
        .alias_name("alias/never-made")
        .send()
        .await;
    let message = format!("Alias {} is not found.", alias_arn("alias/never-made"));
    assert_eq!(
        failure(deleted),
        Failure::new(400, "NotFoundException", Some(&message))
    );

    ks.finish();
}
