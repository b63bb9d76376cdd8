//! UpdateKeyDescription (AWS KMS API Reference, UpdateKeyDescription; behaviour reference,
//! section 2, ADM row).

use aws_sdk_kms::Client;
use serde_json::json;

use crate::harness::Keyshard;
use crate::raw_http::RawRequest;
use crate::support::{
    Failure, assert_empty_answer, create_alias, create_key, disable_key, failure, key_arn,
    key_metadata,
};

async fn description(client: &Client, key_id: &str) -> String {
    let metadata = key_metadata(client, key_id).await;
    metadata.description().expect("Description").to_owned()
}

#[tokio::test]
async fn a_description_is_replaced_by_key_id_or_arn_up_to_8192_characters() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let longest = "é".repeat(8192);

    for (form, text) in [
        (key_id.clone(), "payroll, 2025"),
        (key_arn(&key_id), ""),
        (key_id.clone(), longest.as_str()),
    ] {
        client
            .update_key_description()
            .key_id(&form)
            .description(text)
            .send()
            .await
            .expect("UpdateKeyDescription");
        assert_eq!(description(&client, &key_id).await, text, "{form}");
    }

    ks.finish();
}

#[tokio::test]
async fn update_key_description_answers_with_an_empty_body() {
    let ks = Keyshard::start().await;
    let key_id = create_key(&ks.client()).await;

    let response = ks
        .send_raw(RawRequest::new(
            "UpdateKeyDescription",
            json!({"KeyId": key_id, "Description": "raw"}).to_string(),
        ))
        .await;
    assert_empty_answer(&response);
    assert_eq!(description(&ks.client(), &key_id).await, "raw");

    ks.finish();
}

#[tokio::test]
async fn a_disabled_key_takes_a_new_description() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    disable_key(&client, &key_id).await;

    client
        .update_key_description()
        .key_id(&key_id)
        .description("retired")
        .send()
        .await
        .expect("UpdateKeyDescription of a disabled key");
    assert_eq!(description(&client, &key_id).await, "retired");

    ks.finish();
}

#[tokio::test]
async fn update_key_description_takes_a_key_id_or_arn_but_not_an_alias() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    create_alias(&client, "alias/described", &key_id).await;

    let by_alias = client
        .update_key_description()
        .key_id("alias/described")
        .description("x")
        .send()
        .await;
    assert_eq!(
        failure(by_alias),
        Failure::new(
            400,
            "NotFoundException",
            Some("Invalid keyId 'alias/described'")
        )
    );
    let unknown = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let missing = client
        .update_key_description()
        .key_id(unknown)
        .description("x")
        .send()
        .await;
    assert_eq!(
        failure(missing),
        Failure::new(
            400,
            "NotFoundException",
            Some(&format!("Key '{}' does not exist", key_arn(unknown)))
        )
    );
    assert_eq!(description(&client, &key_id).await, "");

    ks.finish();
}

#[tokio::test]
async fn a_missing_or_too_long_description_is_a_validation_error() {
    let ks = Keyshard::start().await;
    let key_id = create_key(&ks.client()).await;
    let too_long = "d".repeat(8193);

    let cases = [
        (
            json!({"KeyId": key_id}),
            "1 validation error detected: Value null at 'description' failed to satisfy \
             constraint: Member must not be null"
                .to_owned(),
        ),
        (
            json!({"Description": "x"}),
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: \
             Member must not be null"
                .to_owned(),
        ),
        (
            json!({"KeyId": key_id, "Description": too_long}),
            format!(
                "1 validation error detected: Value '{too_long}' at 'description' failed to \
                 satisfy constraint: Member must have length less than or equal to 8192"
            ),
        ),
    ];
    for (body, message) in cases {
        let (status, answer) = ks.raw("UpdateKeyDescription", &body).await;
        assert_eq!(
            (status, answer),
            (
                400,
                json!({"__type": "ValidationException", "message": message})
            )
        );
    }
    assert_eq!(description(&ks.client(), &key_id).await, "");

    ks.finish();
}
