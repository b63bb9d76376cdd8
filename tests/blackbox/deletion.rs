//! ScheduleKeyDeletion and CancelKeyDeletion, the state changes they make, and the deletion
//! itself when the waiting period is over (behaviour reference, sections 2 and 4.4).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::DateTime;
use aws_sdk_kms::types::KeyState;
use serde_json::json;
use sqlx::{Connection as _, SqliteConnection};

use crate::harness::Keyshard;
use crate::support::{
    Failure, alias_arn, blob, create_alias, create_key, customer_aliases, disable_key,
    encrypt_text, failure, key_arn, key_metadata as describe,
};

const DAY_MILLIS: i64 = 86_400_000;

/// AccessDeniedException's message for a blob whose key the caller cannot use.
const UNKNOWN_BLOB_KEY_MESSAGE: &str = "The ciphertext refers to a customer master key that \
                                        does not exist, does not exist in this region, or you \
                                        are not allowed to access.";

fn now_millis() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970");
    i64::try_from(since_epoch.as_millis()).expect("milliseconds fit in i64")
}

fn millis(date: Option<&DateTime>) -> i64 {
    date.expect("a date")
        .to_millis()
        .expect("the date fits in milliseconds")
}

pub(crate) fn pending_deletion(key_id: &str) -> Failure {
    Failure::new(
        400,
        "KMSInvalidStateException",
        Some(&format!("{} is pending deletion.", key_arn(key_id))),
    )
}

fn not_pending_deletion(key_id: &str) -> Failure {
    Failure::new(
        400,
        "KMSInvalidStateException",
        Some(&format!("{} is not pending deletion.", key_arn(key_id))),
    )
}

pub(crate) async fn schedule(client: &Client, key_id: &str, days: i32) {
    client
        .schedule_key_deletion()
        .key_id(key_id)
        .pending_window_in_days(days)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
}

#[tokio::test]
async fn scheduling_answers_with_the_arn_deletion_date_state_and_window() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let arn = key_arn(&key_id);

    let before = now_millis();
    let scheduled = client
        .schedule_key_deletion()
        .key_id(&key_id)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    let after = now_millis();
    assert_eq!(scheduled.key_id(), Some(arn.as_str()));
    assert_eq!(scheduled.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(scheduled.pending_window_in_days(), Some(30));
    let deletion_date = millis(scheduled.deletion_date());
    assert!(
        (before + 30 * DAY_MILLIS..=after + 30 * DAY_MILLIS).contains(&deletion_date),
        "{deletion_date} is not 30 days after {before}..{after}"
    );

    let metadata = describe(&client, &key_id).await;
    assert_eq!(
        (metadata.key_state(), metadata.enabled()),
        (Some(&KeyState::PendingDeletion), false)
    );
    assert_eq!(metadata.deletion_date(), scheduled.deletion_date());
    let listed = client.list_keys().send().await.expect("ListKeys");
    assert_eq!(listed.keys()[0].key_id(), Some(key_id.as_str()));

    // By ARN, with the shortest window.
    let other = create_key(&client).await;
    let before = now_millis();
    let scheduled = client
        .schedule_key_deletion()
        .key_id(key_arn(&other))
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion by ARN");
    let after = now_millis();
    assert_eq!(scheduled.key_id(), Some(key_arn(&other).as_str()));
    assert_eq!(scheduled.pending_window_in_days(), Some(7));
    let deletion_date = millis(scheduled.deletion_date());
    assert!((before + 7 * DAY_MILLIS..=after + 7 * DAY_MILLIS).contains(&deletion_date));

    ks.finish();
}

#[tokio::test]
async fn a_key_goes_from_enabled_to_pending_deletion_to_disabled_and_back_to_enabled() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let arn = key_arn(&key_id);
    let ciphertext = encrypt_text(&client, &key_id, "kept through a cancellation", &[]).await;

    schedule(&client, &key_id, 7).await;
    let cancelled = client
        .cancel_key_deletion()
        .key_id(&key_id)
        .send()
        .await
        .expect("CancelKeyDeletion");
    assert_eq!(cancelled.key_id(), Some(arn.as_str()));

    let metadata = describe(&client, &key_id).await;
    assert_eq!(
        (
            metadata.key_state(),
            metadata.enabled(),
            metadata.deletion_date()
        ),
        (Some(&KeyState::Disabled), false, None)
    );
    let encrypted = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(blob("x"))
        .send()
        .await;
    assert_eq!(
        failure(encrypted),
        Failure::new(
            400,
            "DisabledException",
            Some(&format!("{arn} is disabled."))
        )
    );

    client
        .enable_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("EnableKey");
    let metadata = describe(&client, &key_id).await;
    assert_eq!(
        (metadata.key_state(), metadata.enabled()),
        (Some(&KeyState::Enabled), true)
    );
    let decrypted = client
        .decrypt()
        .ciphertext_blob(ciphertext)
        .send()
        .await
        .expect("Decrypt after the cancellation");
    assert_eq!(
        decrypted.plaintext().map(|p| p.as_ref().to_vec()),
        Some(b"kept through a cancellation".to_vec())
    );

    ks.finish();
}

#[tokio::test]
async fn a_disabled_key_can_be_scheduled_and_a_cancellation_by_arn_leaves_it_disabled() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    disable_key(&client, &key_id).await;

    schedule(&client, &key_id, 30).await;
    let metadata = describe(&client, &key_id).await;
    assert_eq!(metadata.key_state(), Some(&KeyState::PendingDeletion));
    let cancelled = client
        .cancel_key_deletion()
        .key_id(key_arn(&key_id))
        .send()
        .await
        .expect("CancelKeyDeletion by ARN");
    assert_eq!(cancelled.key_id(), Some(key_arn(&key_id).as_str()));
    let metadata = describe(&client, &key_id).await;
    assert_eq!(
        (metadata.key_state(), metadata.deletion_date()),
        (Some(&KeyState::Disabled), None)
    );

    ks.finish();
}

#[tokio::test]
async fn a_second_schedule_is_refused_and_only_a_pending_deletion_can_be_cancelled() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let cancelled = client.cancel_key_deletion().key_id(&key_id).send().await;
    assert_eq!(failure(cancelled), not_pending_deletion(&key_id));

    schedule(&client, &key_id, 10).await;
    let deletion_date = describe(&client, &key_id).await.deletion_date().cloned();
    let again = client
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(20)
        .send()
        .await;
    assert_eq!(failure(again), pending_deletion(&key_id));
    assert_eq!(
        describe(&client, &key_id).await.deletion_date().cloned(),
        deletion_date,
        "a refused schedule keeps the first date"
    );

    client
        .cancel_key_deletion()
        .key_id(&key_id)
        .send()
        .await
        .expect("CancelKeyDeletion");
    let cancelled = client.cancel_key_deletion().key_id(&key_id).send().await;
    assert_eq!(failure(cancelled), not_pending_deletion(&key_id));

    ks.finish();
}

#[tokio::test]
async fn the_waiting_period_must_be_7_to_30_days() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    for (days, tail) in [
        (1, "greater than or equal to 7"),
        (6, "greater than or equal to 7"),
        (31, "less than or equal to 30"),
        (365, "less than or equal to 30"),
    ] {
        let scheduled = client
            .schedule_key_deletion()
            .key_id(&key_id)
            .pending_window_in_days(days)
            .send()
            .await;
        let message = format!(
            "1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to \
             satisfy constraint: Member must have value {tail}"
        );
        assert_eq!(
            failure(scheduled),
            Failure::new(400, "ValidationException", Some(&message)),
            "{days} days"
        );
    }
    assert_eq!(
        describe(&client, &key_id).await.key_state(),
        Some(&KeyState::Enabled)
    );

    for (target, body) in [
        ("ScheduleKeyDeletion", json!({"PendingWindowInDays": 7})),
        ("CancelKeyDeletion", json!({})),
    ] {
        let (status, body) = ks.raw(target, &body).await;
        assert_eq!(
            (status, body),
            (
                400,
                json!({
                    "__type": "ValidationException",
                    "message": "1 validation error detected: Value null at 'keyId' failed to \
                                satisfy constraint: Member must not be null"
                })
            ),
            "{target}"
        );
    }

    ks.finish();
}

#[tokio::test]
async fn deletion_takes_a_key_id_or_arn_but_not_an_alias() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    create_alias(&client, "alias/deletion", &key_id).await;
    let by_alias = Failure::new(
        400,
        "NotFoundException",
        Some("Invalid keyId 'alias/deletion'"),
    );
    let unknown = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let missing = Failure::new(
        400,
        "NotFoundException",
        Some(&format!("Key '{}' does not exist", key_arn(unknown))),
    );

    let scheduled = client
        .schedule_key_deletion()
        .key_id("alias/deletion")
        .send()
        .await;
    assert_eq!(failure(scheduled), by_alias);
    let cancelled = client
        .cancel_key_deletion()
        .key_id("alias/deletion")
        .send()
        .await;
    assert_eq!(failure(cancelled), by_alias);
    let scheduled = client.schedule_key_deletion().key_id(unknown).send().await;
    assert_eq!(failure(scheduled), missing);
    let cancelled = client.cancel_key_deletion().key_id(unknown).send().await;
    assert_eq!(failure(cancelled), missing);

    ks.finish();
}

/// The waiting period cannot be shortened, so the test moves a deletion date into the past in the
/// database and restarts the service, which looks for due keys as soon as it starts.
#[tokio::test]
async fn a_key_whose_deletion_date_has_passed_is_deleted_with_its_aliases_at_start() {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let ks = Keyshard::start_in(dir.path()).await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let kept = create_key(&client).await;
    for (name, target) in [("alias/doomed", &key_id), ("alias/kept", &kept)] {
        create_alias(&client, name, target).await;
    }
    let ciphertext = encrypt_text(&client, &key_id, "outlives its key", &[]).await;
    schedule(&client, &key_id, 7).await;
    schedule(&client, &kept, 7).await;

    let url = format!("sqlite://{}", dir.path().join("keyshard.db").display());
    let mut db = SqliteConnection::connect(&url)
        .await
        .expect("the data directory's database opens");
    sqlx::query("UPDATE keys SET deletion_date = $1 WHERE key_id = $2")
        .bind(now_millis() - 1)
        .bind(&key_id)
        .execute(&mut db)
        .await
        .expect("the deletion date moves into the past");
    db.close().await.expect("the connection closes");

    let ks = ks.restart().await;
    let client = ks.client();
    let missing = Failure::new(
        400,
        "NotFoundException",
        Some(&format!("Key '{}' does not exist", key_arn(&key_id))),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let described = client.describe_key().key_id(&key_id).send().await;
        match described {
            Ok(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            described => {
                assert_eq!(failure(described), missing);
                break;
            }
        }
    }

    let decrypted = client.decrypt().ciphertext_blob(ciphertext).send().await;
    assert_eq!(
        failure(decrypted),
        Failure::new(400, "AccessDeniedException", Some(UNKNOWN_BLOB_KEY_MESSAGE))
    );
    let by_alias = client.describe_key().key_id("alias/doomed").send().await;
    assert_eq!(
        failure(by_alias),
        Failure::new(
            400,
            "NotFoundException",
            Some(&format!(
                "Alias {} is not found.",
                alias_arn("alias/doomed")
            ))
        )
    );
    let aliases = customer_aliases(&client).await;
    let names: Vec<&str> = aliases.iter().filter_map(|a| a.alias_name()).collect();
    assert_eq!(names, ["alias/kept"]);
    let listed = client.list_keys().send().await.expect("ListKeys");
    let ids: Vec<&str> = listed.keys().iter().filter_map(|k| k.key_id()).collect();
    assert_eq!(ids, [kept.as_str()]);
    assert_eq!(
        describe(&client, &kept).await.key_state(),
        Some(&KeyState::PendingDeletion)
    );
    let scheduled = client.schedule_key_deletion().key_id(&key_id).send().await;
    assert_eq!(failure(scheduled), missing);

    ks.finish();
}
