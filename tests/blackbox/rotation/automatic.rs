//! Automatic rotation, and the key states around it that no operation can set yet, arranged by
//! writing to the database of the running or stopped service.

use std::path::Path;
use std::time::Duration;

use aws_sdk_kms::Client;
use aws_sdk_kms::types::RotationType;
use serde_json::json;
use sqlx::{ConnectOptions as _, Connection as _};
use tokio::time::Instant;

use super::{
    DAY_SECS, current_material, now_millis, rotate, rotation_off, rotation_status, same_instant,
};
use crate::cluster::nodes::Cluster;
use crate::harness::Keyshard;
use crate::support::{Failure, blob, create_key, encrypt_text, failure, key_arn};

/// How long a test waits for the automatic rotation task, which runs every second here.
const AUTOMATIC_ROTATION_WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_key_pending_deletion_reads_as_not_rotating_until_the_deletion_is_cancelled() {
    // Keyshard cannot schedule deletions yet, so the state is set in the stopped instance's
    // database, and a restart makes sure no cached copy of the key survives.
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let ks = Keyshard::start_in(dir.path()).await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let arn = key_arn(&key_id);
    client
        .enable_key_rotation()
        .key_id(&key_id)
        .send()
        .await
        .expect("EnableKeyRotation");
    let status = rotation_status(&client, &key_id).await;
    ks.finish();

    set_key_state(dir.path(), &key_id, "PendingDeletion").await;
    let ks = Keyshard::start_in(dir.path()).await;
    let client = ks.client();
    assert_eq!(
        ks.raw("GetKeyRotationStatus", &json!({"KeyId": key_id}))
            .await,
        (200, rotation_off(&key_id))
    );
    let pending = Failure::new(
        400,
        "KMSInvalidStateException",
        Some(&format!("{arn} is pending deletion.")),
    );
    let enable = client.enable_key_rotation().key_id(&key_id).send().await;
    assert_eq!(failure(enable), pending);
    let on_demand = client.rotate_key_on_demand().key_id(&key_id).send().await;
    assert_eq!(failure(on_demand), pending);
    ks.finish();

    // CancelKeyDeletion leaves a key Disabled, and its rotation status as it was.
    set_key_state(dir.path(), &key_id, "Disabled").await;
    let ks = Keyshard::start_in(dir.path()).await;
    assert_eq!(rotation_status(&ks.client(), &key_id).await, status);
    ks.finish();
}

#[tokio::test]
async fn on_demand_rotation_waits_for_an_automatic_rotation_due_within_twenty_minutes() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let arn = key_arn(&key_id);
    client
        .enable_key_rotation()
        .key_id(&key_id)
        .send()
        .await
        .expect("EnableKeyRotation");
    rotate(&client, &key_id).await;

    // The automatic rotation is brought forward to ten minutes from now.
    let mut database = sqlite(ks.data_dir()).await;
    sqlx::query("UPDATE rotation_schedules SET next_rotation_at = $1 WHERE key_id = $2")
        .bind(now_millis() + 10 * 60 * 1000)
        .bind(&key_id)
        .execute(&mut database)
        .await
        .expect("the schedule is updated");
    database.close().await.expect("the connection closes");

    let material = current_material(&client, &key_id).await;
    let refused = client.rotate_key_on_demand().key_id(&key_id).send().await;
    assert_eq!(
        failure(refused),
        Failure::new(
            400,
            "ConflictException",
            Some(&format!(
                "An automatic rotation of {arn} is in progress or starts within 20 minutes. Try \
                 again after it completes."
            ))
        )
    );
    assert_eq!(current_material(&client, &key_id).await, material);

    ks.finish();
}

#[tokio::test]
async fn a_key_whose_rotation_date_passed_is_rotated_automatically() {
    let ks = Keyshard::start_with_args(&["--rotation-check-interval-seconds", "1"]).await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let arn = key_arn(&key_id);
    let first = current_material(&client, &key_id).await;
    let blob_before = encrypt_text(&client, &key_id, "sealed before", &[]).await;
    client
        .enable_key_rotation()
        .key_id(&key_id)
        .rotation_period_in_days(90)
        .send()
        .await
        .expect("EnableKeyRotation");

    // Nobody waits 90 days: the schedule is moved into the past in the database.
    let due = now_millis() - 1000;
    let mut database = sqlite(ks.data_dir()).await;
    sqlx::query("UPDATE rotation_schedules SET next_rotation_at = $1 WHERE key_id = $2")
        .bind(due)
        .bind(&key_id)
        .execute(&mut database)
        .await
        .expect("the schedule is updated");
    database.close().await.expect("the connection closes");

    let second = wait_for_new_material(&client, &key_id, &first).await;
    let listed = client
        .list_key_rotations()
        .key_id(&key_id)
        .send()
        .await
        .expect("ListKeyRotations");
    let [entry] = listed.rotations() else {
        panic!("one rotation: {listed:?}");
    };
    assert_eq!(
        (
            entry.key_id(),
            entry.key_material_id(),
            entry.rotation_type()
        ),
        (
            Some(arn.as_str()),
            Some(second.as_str()),
            Some(&RotationType::Automatic)
        )
    );
    let rotated_at = entry.rotation_date().expect("RotationDate").as_secs_f64();
    let (enabled, period, next) = rotation_status(&client, &key_id).await;
    assert_eq!((enabled, period), (true, Some(90)));
    let next = next.expect("NextRotationDate");
    assert!(
        same_instant(next, rotated_at + 90.0 * DAY_SECS),
        "the next rotation {next} is not 90 days after {rotated_at}"
    );

    let decrypted = client
        .decrypt()
        .ciphertext_blob(blob_before)
        .send()
        .await
        .expect("Decrypt after the automatic rotation");
    assert_eq!(decrypted.key_material_id(), Some(first.as_str()));
    let encrypted = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(blob("sealed after"))
        .send()
        .await
        .expect("Encrypt");
    let decrypted = client
        .decrypt()
        .ciphertext_blob(encrypted.ciphertext_blob().expect("CiphertextBlob").clone())
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(decrypted.key_material_id(), Some(second.as_str()));

    ks.finish();
}

#[tokio::test]
async fn shards_of_a_cluster_rotate_a_due_key_once_and_every_gateway_sees_it() {
    let mut cluster = Cluster::start(0, 0).await;
    for _ in 0..3 {
        let shard = cluster
            .start_shard(&["--rotation-check-interval-seconds", "1"])
            .await;
        cluster.shards.push(shard);
    }
    let (one, two) = (
        cluster.add_gateway(&[0, 1, 2]).await,
        cluster.add_gateway(&[0, 1, 2]).await,
    );
    let (one, two) = (cluster.client(one), cluster.client(two));
    let key_id = create_key(&one).await;
    let first = current_material(&two, &key_id).await;
    one.enable_key_rotation()
        .key_id(&key_id)
        .rotation_period_in_days(90)
        .send()
        .await
        .expect("EnableKeyRotation");

    let mut database = cluster.database().await;
    sqlx::query("UPDATE rotation_schedules SET next_rotation_at = $1 WHERE key_id = $2")
        .bind(now_millis() - 1000)
        .bind(&key_id)
        .execute(&mut database)
        .await
        .expect("the schedule is updated");

    let second = wait_for_new_material(&two, &key_id, &first).await;
    assert_eq!(current_material(&one, &key_id).await, second);
    let rotations: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM key_versions WHERE key_id = $1 AND rotation_type = 'AUTOMATIC'",
    )
    .bind(&key_id)
    .fetch_one(&mut database)
    .await
    .expect("the versions are counted");
    assert_eq!(rotations, 1);
    database.close().await.expect("the connection closes");

    cluster.finish(&[]);
}

/// A connection to the SQLite database of a `keyshard dev` data directory.
async fn sqlite(data_dir: &Path) -> sqlx::SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(data_dir.join("keyshard.db"))
        .busy_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("the database opens")
}

async fn set_key_state(data_dir: &Path, key_id: &str, state: &str) {
    let mut database = sqlite(data_dir).await;
    sqlx::query("UPDATE keys SET state = $1 WHERE key_id = $2")
        .bind(state)
        .bind(key_id)
        .execute(&mut database)
        .await
        .expect("the state is set");
    database.close().await.expect("the connection closes");
}

/// Polls DescribeKey until the key's current material is no longer `old`: the rotation task
/// runs in another process, on its own clock.
async fn wait_for_new_material(client: &Client, key_id: &str, old: &str) -> String {
    let deadline = Instant::now() + AUTOMATIC_ROTATION_WAIT;
    loop {
        let current = current_material(client, key_id).await;
        if current != old {
            return current;
        }
        assert!(
            Instant::now() < deadline,
            "the key was not rotated within {AUTOMATIC_ROTATION_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
