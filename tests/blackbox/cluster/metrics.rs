//! `/metrics` after known traffic: a gateway's requests by operation and outcome and its calls
//! per shard, and a shard's store statements with their durations.

use super::nodes::{Cluster, create_database, metric_in, scrape};
use crate::support::{create_key, failure};

#[tokio::test]
async fn a_gateway_counts_its_requests_by_operation_and_outcome_and_its_calls_per_shard() {
    let cluster = Cluster::start(2, 1).await;
    let client = cluster.client(0);
    let key_id = create_key(&client).await;
    for _ in 0..3 {
        client
            .generate_data_key()
            .key_id(&key_id)
            .number_of_bytes(16)
            .send()
            .await
            .expect("GenerateDataKey");
    }
    let missing = client
        .generate_data_key()
        .key_id("alias/missing")
        .number_of_bytes(16)
        .send()
        .await;
    assert_eq!(failure(missing).kind(), (400, "NotFoundException"));

    let metrics = scrape(&cluster.gateways[0]).await;
    let count = |labels: &str| metric_in(&metrics, labels);
    assert_eq!(
        count(r#"keyshard_requests_total{operation="CreateKey",outcome="ok"}"#),
        1
    );
    assert_eq!(
        count(r#"keyshard_requests_total{operation="GenerateDataKey",outcome="ok"}"#),
        3
    );
    assert_eq!(
        count(
            r#"keyshard_requests_total{operation="GenerateDataKey",outcome="NotFoundException"}"#
        ),
        1
    );
    assert_eq!(
        count(r#"keyshard_request_duration_seconds_count{operation="GenerateDataKey"}"#),
        4
    );

    // Five requests and the one fetch of the access key's signing key; the key's four calls
    // all go to the shard rendezvous hashing gives it.
    let per_shard: Vec<u64> = cluster
        .shards
        .iter()
        .map(|shard| {
            count(&format!(
                "keyshard_shard_calls_total{{shard=\"{}\"}}",
                shard.address
            ))
        })
        .collect();
    assert_eq!(per_shard.iter().sum::<u64>(), 6, "{per_shard:?}");
    assert!(per_shard.iter().any(|&calls| calls >= 4), "{per_shard:?}");
    assert_eq!(count("keyshard_shard_failovers_total"), 0);

    cluster.finish(&[]);
}

#[tokio::test]
async fn a_shard_times_every_statement_it_sends() {
    let mut cluster = Cluster::start(0, 0).await;
    // Nothing is cached for long, and the periodic tasks look only at start.
    let shard = cluster
        .start_shard(&[
            "--cache-ttl-seconds",
            "0",
            "--rotation-check-interval-seconds",
            "3600",
            "--key-deletion-interval-seconds",
            "3600",
        ])
        .await;
    cluster.shards.push(shard);
    let gateway = cluster.add_gateway(&[0]).await;
    let client = cluster.client(gateway);
    let key_id = create_key(&client).await;

    let before = scrape(&cluster.shards[0]).await;
    let queries = metric_in(&before, "keyshard_store_queries_total");
    assert_eq!(
        metric_in(&before, "keyshard_store_query_duration_seconds_count"),
        queries
    );
    client
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateDataKey");

    // A cold GenerateDataKey reads the key, its policy, its grants and its key version.
    let after = scrape(&cluster.shards[0]).await;
    assert_eq!(
        metric_in(&after, "keyshard_store_queries_total"),
        queries + 4
    );
    assert_eq!(
        metric_in(&after, "keyshard_store_query_duration_seconds_count"),
        queries + 4
    );
    assert_eq!(
        metric_in(
            &after,
            r#"keyshard_store_query_duration_seconds_bucket{le="+Inf"}"#
        ),
        queries + 4
    );

    cluster.finish(&[]);
}

#[tokio::test]
async fn a_shard_on_a_database_without_the_schema_is_not_ready_until_it_is_migrated() {
    let mut cluster = Cluster::start(0, 0).await;
    let empty = create_database().await;
    let migrated = std::mem::replace(&mut cluster.database_url, empty.clone());
    let shard = cluster.start_shard(&[]).await;
    cluster.database_url = migrated;
    cluster.shards.push(shard);
    assert_eq!(Cluster::readiness(&cluster.shards[0]).await, 503);

    // A gateway in front of it answers a retryable 503, not a 500.
    let gateway = cluster.add_gateway(&[0]).await;
    cluster.expect_unavailable();
    let listed = cluster.client(gateway).list_keys().send().await;
    assert_eq!(failure(listed).kind(), (503, "DependencyTimeoutException"));

    let migrate = std::process::Command::new(env!("CARGO_BIN_EXE_keyshard"))
        .args(["migrate", "--database-url", &empty])
        .output()
        .expect("keyshard migrate runs");
    assert!(migrate.status.success(), "keyshard migrate failed");
    assert_eq!(Cluster::readiness(&cluster.shards[0]).await, 200);

    cluster.finish(&["key store unavailable", "request failed"]);
}
