//! Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
//! RotateKeyOnDemand, ListKeyRotations and the automatic schedule (behaviour reference, sections
//! 2 and 4.5).

mod automatic;
mod requests;

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_kms::Client;
use aws_sdk_kms::types::{IncludeKeyMaterial, KeyMaterialState, RotationType};
use serde_json::{Value, json};

use crate::harness::Keyshard;
use crate::support::{Failure, create_key, encrypt_text, failure, is_key_material_id, key_arn};

const DAY_SECS: f64 = 86_400.0;

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64()
}

fn now_millis() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since_epoch.as_millis()).expect("milliseconds fit i64")
}

/// Whether two timestamps in epoch seconds are the same to the millisecond AWS sends.
fn same_instant(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.002
}

async fn current_material(client: &Client, key_id: &str) -> String {
    let described = client
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .expect("DescribeKey");
    let metadata = described.key_metadata().expect("KeyMetadata");
    metadata
        .current_key_material_id()
        .expect("CurrentKeyMaterialId")
        .to_owned()
}

async fn rotate(client: &Client, key_id: &str) {
    client
        .rotate_key_on_demand()
        .key_id(key_id)
        .send()
        .await
        .expect("RotateKeyOnDemand");
}

/// `(KeyRotationEnabled, RotationPeriodInDays, NextRotationDate)` from GetKeyRotationStatus,
/// after checking that it names the key by ARN and reports no on-demand rotation in progress.
async fn rotation_status(client: &Client, key_id: &str) -> (bool, Option<i32>, Option<f64>) {
    let status = client
        .get_key_rotation_status()
        .key_id(key_id)
        .send()
        .await
        .expect("GetKeyRotationStatus");
    let arn = if key_id.starts_with("arn:") {
        key_id.to_owned()
    } else {
        key_arn(key_id)
    };
    assert_eq!(status.key_id(), Some(arn.as_str()));
    assert_eq!(status.on_demand_rotation_start_date(), None);
    (
        status.key_rotation_enabled(),
        status.rotation_period_in_days(),
        status.next_rotation_date().map(|d| d.as_secs_f64()),
    )
}

/// The raw GetKeyRotationStatus body of a key whose rotation is off.
fn rotation_off(key_id: &str) -> Value {
    json!({"KeyRotationEnabled": false, "KeyId": key_arn(key_id)})
}

fn validation(message: &str) -> Failure {
    Failure::new(400, "ValidationException", Some(message))
}

#[tokio::test]
async fn rotation_is_off_until_enabled_and_a_new_period_keeps_the_schedule_it_began() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let arn = key_arn(&key_id);
    let request = json!({"KeyId": key_id});
    assert_eq!(
        ks.raw("GetKeyRotationStatus", &request).await,
        (200, rotation_off(&key_id))
    );

    let before = now_secs();
    client
        .enable_key_rotation()
        .key_id(&key_id)
        .send()
        .await
        .expect("EnableKeyRotation");
    let after = now_secs();
    let (enabled, period, next) = rotation_status(&client, &key_id).await;
    assert_eq!((enabled, period), (true, Some(365)));
    let first_next = next.expect("NextRotationDate");
    assert!(
        first_next >= before + 365.0 * DAY_SECS - 0.002 && first_next <= after + 365.0 * DAY_SECS,
        "NextRotationDate {first_next} is not a year after the call ({before}..{after})"
    );

    // A new period moves the next rotation by the difference; the same period changes nothing.
    for _ in 0..2 {
        client
            .enable_key_rotation()
            .key_id(&arn)
            .rotation_period_in_days(90)
            .send()
            .await
            .expect("EnableKeyRotation with a period");
        let (enabled, period, next) = rotation_status(&client, &arn).await;
        assert_eq!((enabled, period), (true, Some(90)));
        let next = next.expect("NextRotationDate");
        assert!(
            same_instant(next, first_next - 275.0 * DAY_SECS),
            "{next} is not 275 days before {first_next}"
        );
    }

    for _ in 0..2 {
        client
            .disable_key_rotation()
            .key_id(&key_id)
            .send()
            .await
            .expect("DisableKeyRotation");
        assert_eq!(
            ks.raw("GetKeyRotationStatus", &request).await,
            (200, rotation_off(&key_id))
        );
    }

    // Enabled again, the schedule starts over from this call.
    let before = now_secs();
    client
        .enable_key_rotation()
        .key_id(&key_id)
        .rotation_period_in_days(2560)
        .send()
        .await
        .expect("EnableKeyRotation again");
    let (enabled, period, next) = rotation_status(&client, &key_id).await;
    assert_eq!((enabled, period), (true, Some(2560)));
    let next = next.expect("NextRotationDate");
    assert!(
        next >= before + 2560.0 * DAY_SECS - 0.002 && next <= now_secs() + 2560.0 * DAY_SECS,
        "{next}"
    );

    ks.finish();
}

#[tokio::test]
async fn on_demand_rotation_changes_the_current_material_and_old_ciphertexts_still_decrypt() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let arn = key_arn(&key_id);
    let first = current_material(&client, &key_id).await;
    let old_blob = encrypt_text(&client, &key_id, "sealed before", &[]).await;

    let started = now_secs();
    let rotated = client
        .rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .expect("RotateKeyOnDemand");
    let finished = now_secs();
    assert_eq!(rotated.key_id(), Some(arn.as_str()));
    let second = current_material(&client, &key_id).await;
    assert!(is_key_material_id(&second), "{second}");
    assert_ne!(second, first);

    let decrypted = client
        .decrypt()
        .ciphertext_blob(old_blob)
        .send()
        .await
        .expect("Decrypt of a blob sealed before the rotation");
    assert_eq!(
        (
            decrypted.plaintext().map(|p| p.as_ref().to_vec()),
            decrypted.key_id(),
            decrypted.key_material_id()
        ),
        (
            Some(b"sealed before".to_vec()),
            Some(arn.as_str()),
            Some(first.as_str())
        )
    );
    let new_blob = encrypt_text(&client, &key_id, "sealed after", &[]).await;
    let decrypted = client
        .decrypt()
        .ciphertext_blob(new_blob)
        .send()
        .await
        .expect("Decrypt of a blob sealed after the rotation");
    assert_eq!(decrypted.key_material_id(), Some(second.as_str()));
    let generated = client
        .generate_data_key()
        .key_id(&arn)
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateDataKey");
    assert_eq!(generated.key_material_id(), Some(second.as_str()));

    // On-demand rotation leaves automatic rotation off and is over when it answers.
    assert_eq!(rotation_status(&client, &key_id).await, (false, None, None));

    let listed = client
        .list_key_rotations()
        .key_id(&key_id)
        .send()
        .await
        .expect("ListKeyRotations");
    assert!(!listed.truncated());
    let [entry] = listed.rotations() else {
        panic!("one rotation: {listed:?}");
    };
    assert_eq!(
        (
            entry.key_id(),
            entry.key_material_id(),
            entry.key_material_state(),
            entry.rotation_type()
        ),
        (
            Some(arn.as_str()),
            Some(second.as_str()),
            Some(&KeyMaterialState::Current),
            Some(&RotationType::OnDemand)
        )
    );
    let rotation_date = entry.rotation_date().expect("RotationDate").as_secs_f64();
    assert!(
        rotation_date >= started - 0.002 && rotation_date <= finished,
        "{rotation_date} is not within the call ({started}..{finished})"
    );

    // ALL_KEY_MATERIAL adds the first material, which no rotation made.
    let (status, body) = ks
        .raw(
            "ListKeyRotations",
            &json!({"KeyId": key_id, "IncludeKeyMaterial": "ALL_KEY_MATERIAL"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "Rotations": [
                {"KeyId": arn, "KeyMaterialId": first, "KeyMaterialState": "NON_CURRENT"},
                {
                    "KeyId": arn,
                    "KeyMaterialId": second,
                    "KeyMaterialState": "CURRENT",
                    "RotationDate": body["Rotations"][1]["RotationDate"],
                    "RotationType": "ON_DEMAND",
                },
            ],
            "Truncated": false,
        })
    );
    assert!(
        same_instant(
            body["Rotations"][1]["RotationDate"]
                .as_f64()
                .expect("RotationDate is a number"),
            rotation_date
        ),
        "{body}"
    );

    ks.finish();
}

#[tokio::test]
async fn on_demand_rotations_stop_at_the_configured_limit() {
    let ks = Keyshard::start_with_args(&["--on-demand-rotation-limit", "2"]).await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let arn = key_arn(&key_id);

    rotate(&client, &key_id).await;
    rotate(&client, &arn).await;
    let material = current_material(&client, &key_id).await;
    let refused = client.rotate_key_on_demand().key_id(&key_id).send().await;
    assert_eq!(
        failure(refused),
        Failure::new(
            400,
            "LimitExceededException",
            Some(&format!(
                "The on-demand rotations limit has been reached for the given keyId. No more \
                 on-demand rotations can be performed for this key: {arn}"
            ))
        )
    );
    assert_eq!(current_material(&client, &key_id).await, material);
    let listed = client
        .list_key_rotations()
        .key_id(&key_id)
        .send()
        .await
        .expect("ListKeyRotations");
    assert_eq!(listed.rotations().len(), 2);

    // The limit is per key.
    let other = create_key(&client).await;
    rotate(&client, &other).await;

    ks.finish();
}

#[tokio::test]
async fn a_disabled_key_keeps_its_rotation_status_but_refuses_rotation_changes() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let arn = key_arn(&key_id);
    client
        .enable_key_rotation()
        .key_id(&key_id)
        .rotation_period_in_days(180)
        .send()
        .await
        .expect("EnableKeyRotation");
    let status = rotation_status(&client, &key_id).await;
    client
        .disable_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("DisableKey");

    let disabled = Failure::new(
        400,
        "DisabledException",
        Some(&format!("{arn} is disabled.")),
    );
    let enable = client.enable_key_rotation().key_id(&key_id).send().await;
    assert_eq!(failure(enable), disabled);
    let disable = client.disable_key_rotation().key_id(&key_id).send().await;
    assert_eq!(failure(disable), disabled);
    let on_demand = client.rotate_key_on_demand().key_id(&key_id).send().await;
    assert_eq!(failure(on_demand), disabled);
    assert_eq!(rotation_status(&client, &key_id).await, status);
    let listed = client
        .list_key_rotations()
        .key_id(&key_id)
        .send()
        .await
        .expect("ListKeyRotations of a disabled key");
    assert_eq!((listed.rotations().len(), listed.truncated()), (0, false));

    client
        .enable_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("EnableKey");
    rotate(&client, &key_id).await;
    assert_eq!(rotation_status(&client, &key_id).await, status);

    ks.finish();
}

#[tokio::test]
async fn list_key_rotations_pages_in_rotation_order() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let other = create_key(&client).await;
    let mut materials = vec![current_material(&client, &key_id).await];
    for _ in 0..5 {
        rotate(&client, &key_id).await;
        materials.push(current_material(&client, &key_id).await);
    }
    rotate(&client, &other).await;

    let mut seen = Vec::new();
    let mut pages = client
        .list_key_rotations()
        .key_id(&key_id)
        .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
        .limit(4)
        .into_paginator()
        .send();
    let mut sizes = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.expect("ListKeyRotations page");
        assert_eq!(page.truncated(), page.next_marker().is_some());
        sizes.push(page.rotations().len());
        seen.extend(
            page.rotations()
                .iter()
                .map(|r| r.key_material_id().unwrap_or_default().to_owned()),
        );
    }
    assert_eq!(sizes, [4, 2]);
    assert_eq!(seen, materials);

    // Pages of two without the first material, by hand.
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    let mut other_marker = None;
    loop {
        let mut request = json!({"KeyId": key_id, "Limit": 2});
        if let Some(m) = &marker {
            request["Marker"] = json!(m);
        }
        let (status, page) = ks.raw("ListKeyRotations", &request).await;
        assert_eq!(status, 200, "{page}");
        for entry in page["Rotations"].as_array().expect("Rotations") {
            seen.push(entry["KeyMaterialId"].as_str().expect("an id").to_owned());
        }
        match (page.get("Truncated"), page.get("NextMarker")) {
            (Some(Value::Bool(true)), Some(Value::String(next))) => {
                other_marker.get_or_insert_with(|| next.clone());
                marker = Some(next.clone());
            }
            (Some(Value::Bool(false)), None) => break,
            _ => {
                panic!("Truncated must be present, and NextMarker exactly when it is true: {page}")
            }
        }
    }
    assert_eq!(seen, materials[1..]);

    let invalid = Failure::new(
        400,
        "InvalidMarkerException",
        Some("The marker that specifies where to start is invalid."),
    );
    let foreign = other_marker.expect("a marker of the first listing");
    for (key, marker) in [(&key_id, "garbage".to_owned()), (&other, foreign)] {
        let listed = client
            .list_key_rotations()
            .key_id(key)
            .marker(marker)
            .send()
            .await;
        assert_eq!(failure(listed), invalid, "{key}");
    }

    ks.finish();
}
