//! Key deletion in the production topology: every shard runs the deletion task on the one
//! database, each due key is deleted once, and every shard forgets it and its aliases.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_kms::types::KeyState;
use sqlx::Row as _;
use tokio::time::Instant;

use super::nodes::Cluster;
use crate::support::{
    Failure, alias_arn, create_alias, create_key, encrypt_text, failure, key_arn,
};

/// How long the test waits for a sweep; shards look every second.
const SWEEP_WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn shards_delete_a_due_key_once_and_every_shard_forgets_it_and_its_alias() {
    let mut cluster = Cluster::start(0, 0).await;
    for _ in 0..3 {
        let shard = cluster
            .start_shard(&["--key-deletion-interval-seconds", "1"])
            .await;
        cluster.shards.push(shard);
    }
    let front = cluster.add_gateway(&[0, 1, 2]).await;
    let mut probes = Vec::new();
    for shard in 0..3 {
        probes.push(cluster.add_gateway(&[shard]).await);
    }
    let client = cluster.client(front);
    let doomed = create_key(&client).await;
    let kept = create_key(&client).await;
    create_alias(&client, "alias/doomed", &doomed).await;
    let ciphertext = encrypt_text(&client, &doomed, "outlives its key", &[]).await;
    for key_id in [&doomed, &kept] {
        client
            .schedule_key_deletion()
            .key_id(key_id)
            .pending_window_in_days(7)
            .send()
            .await
            .expect("ScheduleKeyDeletion");
    }
    // Every shard caches the key and its alias.
    for &probe in &probes {
        let described = cluster
            .client(probe)
            .describe_key()
            .key_id("alias/doomed")
            .send()
            .await
            .expect("DescribeKey by alias");
        let state = described
            .key_metadata()
            .and_then(|m| m.key_state())
            .cloned();
        assert_eq!(state, Some(KeyState::PendingDeletion));
    }

    // The waiting period cannot be shortened: the test moves the deletion date instead.
    let mut db = cluster.database().await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_millis();
    sqlx::query("UPDATE keys SET deletion_date = $1 WHERE key_id = $2")
        .bind(i64::try_from(now).expect("milliseconds fit in i64") - 1)
        .bind(&doomed)
        .execute(&mut db)
        .await
        .expect("the deletion date moves into the past");

    let key_missing = Failure::new(
        400,
        "NotFoundException",
        Some(&format!("Key '{}' does not exist", key_arn(&doomed))),
    );
    let alias_missing = Failure::new(
        400,
        "NotFoundException",
        Some(&format!(
            "Alias {} is not found.",
            alias_arn("alias/doomed")
        )),
    );
    let deadline = Instant::now() + SWEEP_WAIT;
    for &probe in &probes {
        let probe = cluster.client(probe);
        // The key and alias notices arrive one after the other; wait for both.
        loop {
            let described = probe.describe_key().key_id("alias/doomed").send().await;
            if described.is_err() {
                let answer = failure(described);
                if answer == alias_missing {
                    break;
                }
                assert!(Instant::now() < deadline, "still answered {answer:?}");
            } else {
                assert!(Instant::now() < deadline, "the key was not deleted in time");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let described = probe.describe_key().key_id(&doomed).send().await;
        assert_eq!(failure(described), key_missing);
        let decrypted = probe
            .decrypt()
            .ciphertext_blob(ciphertext.clone())
            .send()
            .await;
        assert_eq!(failure(decrypted).kind(), (400, "AccessDeniedException"));
        let kept_state = probe.describe_key().key_id(&kept).send().await;
        let kept_state = kept_state.expect("the other key stays");
        assert_eq!(
            kept_state.key_metadata().and_then(|m| m.key_state()),
            Some(&KeyState::PendingDeletion)
        );
    }

    let deletions: usize = cluster
        .shards
        .iter()
        .map(|shard| {
            shard
                .log_text()
                .lines()
                .filter(|line| line.contains("key deleted") && line.contains(&doomed))
                .count()
        })
        .sum();
    assert_eq!(deletions, 1, "the key is deleted by exactly one shard");
    for table in [
        "SELECT count(*) FROM keys WHERE key_id = $1",
        "SELECT count(*) FROM key_versions WHERE key_id = $1",
        "SELECT count(*) FROM aliases WHERE target_key_id = $1",
    ] {
        let left: i64 = sqlx::query(table)
            .bind(&doomed)
            .fetch_one(&mut db)
            .await
            .expect("count what is left")
            .get(0);
        assert_eq!(left, 0, "{table}");
    }

    cluster.finish(&[]);
}
