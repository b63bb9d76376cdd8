//! Rotation requests refused before any key changes: model validation, and key identifiers
//! that are aliases or name no key.

use serde_json::json;

use super::{rotation_status, validation};
use crate::harness::Keyshard;
use crate::raw_http::RawRequest;
use crate::support::{Failure, create_key, failure, key_arn};

#[tokio::test]
async fn rotation_requests_are_validated_against_the_model() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    for (days, message) in [
        (
            89,
            "1 validation error detected: Value '89' at 'rotationPeriodInDays' failed to satisfy \
             constraint: Member must have value greater than or equal to 90",
        ),
        (
            2561,
            "1 validation error detected: Value '2561' at 'rotationPeriodInDays' failed to \
             satisfy constraint: Member must have value less than or equal to 2560",
        ),
    ] {
        let refused = client
            .enable_key_rotation()
            .key_id(&key_id)
            .rotation_period_in_days(days)
            .send()
            .await;
        assert_eq!(failure(refused), validation(message), "{days}");
    }
    assert_eq!(rotation_status(&client, &key_id).await, (false, None, None));

    let missing_key_id = validation(
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member \
         must not be null",
    );
    for target in [
        "EnableKeyRotation",
        "DisableKeyRotation",
        "GetKeyRotationStatus",
        "RotateKeyOnDemand",
        "ListKeyRotations",
    ] {
        let response = ks.send_raw(RawRequest::new(target, "{}".to_owned()));
        assert_eq!(Failure::of_raw(&response.await), missing_key_id, "{target}");
    }

    for (request, message) in [
        (
            json!({"KeyId": key_id, "Limit": 0}),
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: \
             Member must have value greater than or equal to 1",
        ),
        (
            json!({"KeyId": key_id, "Limit": 1001}),
            "1 validation error detected: Value '1001' at 'limit' failed to satisfy constraint: \
             Member must have value less than or equal to 1000",
        ),
        (
            json!({"KeyId": key_id, "IncludeKeyMaterial": "EVERYTHING"}),
            "1 validation error detected: Value 'EVERYTHING' at 'includeKeyMaterial' failed to \
             satisfy constraint: Member must satisfy enum value set: [ALL_KEY_MATERIAL, \
             ROTATIONS_ONLY]",
        ),
    ] {
        let (status, body) = ks.raw("ListKeyRotations", &request).await;
        assert_eq!(
            (status, &body["__type"], &body["message"]),
            (400, &json!("ValidationException"), &json!(message)),
            "{request}"
        );
    }

    ks.finish();
}

#[tokio::test]
async fn rotation_operations_take_a_key_id_or_arn_but_not_an_alias() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/rotation")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias");
    let unknown = "1234abcd-12ab-34cd-56ef-1234567890ab";

    for (input, message) in [
        (
            "alias/rotation".to_owned(),
            "Invalid keyId 'alias/rotation'".to_owned(),
        ),
        (
            unknown.to_owned(),
            format!("Key '{}' does not exist", key_arn(unknown)),
        ),
    ] {
        let not_found = Failure::new(400, "NotFoundException", Some(&message));
        let request = json!({"KeyId": input});
        for target in [
            "EnableKeyRotation",
            "DisableKeyRotation",
            "GetKeyRotationStatus",
            "RotateKeyOnDemand",
            "ListKeyRotations",
        ] {
            let response = ks
                .send_raw(RawRequest::new(target, request.to_string()))
                .await;
            assert_eq!(Failure::of_raw(&response), not_found, "{target} {input}");
        }
    }

    ks.finish();
}
